"""One threaded WSGI server for every face: requests are told apart as the real APIs tell them."""
from __future__ import annotations

import json
import threading

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .faces import FACES


class _QuietHandler(WSGIRequestHandler):
    # the request log lives in CloudSim.requests; one stderr line per call would drown test output
    def log_request(self, *args, **kwargs):
        pass


class Dispatcher:
    """The WSGI app: hands each request to the first face that recognises it."""

    def __init__(self, sim):
        self.sim = sim
        self.faces = [face(sim) for face in FACES]

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/_sim/"):
            return control(self.sim, request)(environ, start_response)
        for face in self.faces:
            if face.matches(request):
                response = face.handle(request)
                break
        else:
            response = Response(json.dumps({"error": "cloudsim: no cloud API recognised this request",
                                            "faces": [f.provider for f in self.faces]}),
                                status=400, content_type="application/json")
        return response(environ, start_response)


def _json(body, status=200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def control(sim, request: Request) -> Response:
    """The control endpoint, for running fault scenarios by hand (no authentication: a local tool).

    GET /_sim/faults → the knobs; POST /_sim/faults {knob: value, ...} → changes those knobs
    (see cloudsim/faults.py for the shapes) and answers with all of them; 400 names the bad knob.
    GET /_sim/instances[?include_deleted=1&tag=key=value] → the inventory (the oracle for counts).
    """
    from . import faults
    if request.path == "/_sim/faults":
        if request.method == "POST":
            try:
                sim.configure(**faults.parse(request.get_json(force=True, silent=True)))
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        elif request.method != "GET":
            return _json({"error": "GET or POST"}, 405)
        return _json(faults.dump(sim.knobs()))
    if request.path == "/_sim/instances" and request.method == "GET":
        tags = dict(t.split("=", 1) for t in request.args.getlist("tag") if "=" in t) or None
        found = sim.instances(tags=tags, include_deleted=request.args.get("include_deleted") in ("1", "true"))
        return _json({"count": len(found), "instances": [
            {"instance_id": i.instance_id, "provider": i.provider, "region": i.region, "status": i.status,
             "tags": i.tags, "created_at": i.created_at, "deleted_at": i.deleted_at} for i in found]})
    return _json({"error": f"no control route {request.method} {request.path}",
                  "routes": ["GET|POST /_sim/faults", "GET /_sim/instances"]}, 404)


class SimServer:
    """A running server: .url, .port, .stop(). Also a context manager."""

    def __init__(self, sim, host: str = "127.0.0.1", port: int = 0):
        self.sim = sim
        self._server = make_server(host, port, Dispatcher(sim), threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        # a short poll interval makes stop() quick, which matters for per-test servers
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"cloudsim:{self.port}", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        """host:port, the form the Alibaba and Tencent SDKs take."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

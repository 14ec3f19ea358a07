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
        self.faces = [face(sim) for face in FACES]

    def __call__(self, environ, start_response):
        request = Request(environ)
        for face in self.faces:
            if face.matches(request):
                response = face.handle(request)
                break
        else:
            response = Response(json.dumps({"error": "cloudsim: no cloud API recognised this request",
                                            "faces": [f.provider for f in self.faces]}),
                                status=400, content_type="application/json")
        return response(environ, start_response)


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

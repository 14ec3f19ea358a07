"""moto's EC2 server behind a thin test front adding what the contract suite needs and moto lacks.

moto 5 does not honour RunInstances' ClientToken, never throttles, has unlimited stock and
accepts any access key. This WSGI front (test scaffolding only) records every request with its
arrival time and outcome, rejects unknown access keys with AuthFailure, injects
RequestLimitExceeded at a configurable rate, enforces a stock count for RunInstances (launching
up to MaxCount, as EC2 does, where moto launches MinCount) and replays a known ClientToken's
reply instead of launching again.
"""
from __future__ import annotations

import io
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs, urlencode

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/")


@dataclass(frozen=True)
class Record:
    ts: float
    api: str
    access_key: str
    region: str
    outcome: str


def _error(start_response, status: str, code: str, message: str):
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>")
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body.encode()]


class MotoFront:
    def __init__(self, access_keys, seed: int = 1):
        from moto.server import DomainDispatcherApplication, create_backend_app

        self.app = DomainDispatcherApplication(create_backend_app)
        self.access_keys = set(access_keys)
        self.throttle_rate = 0.0
        self.stock: Optional[int] = None  # instances RunInstances may still launch; None: unlimited
        self.log: list[Record] = []
        self._rng = random.Random(seed)
        self._lock = threading.RLock()  # record() is also called with it held
        self._replies: dict = {}  # (access key, region, client token) -> (status, headers, body)
        self._token_locks: dict = {}

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action = form.get("Action", "")
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region = match.groups() if match else ("", "")
        arrived = time.time()

        def record(outcome):
            with self._lock:
                self.log.append(Record(arrived, action, access_key, region, outcome))

        if access_key not in self.access_keys:
            record("AuthFailure")
            return _error(start_response, "401 Unauthorized", "AuthFailure", "Unknown access key.")
        with self._lock:
            throttled = self.throttle_rate and self._rng.random() < self.throttle_rate
        if throttled:
            record("RequestLimitExceeded")
            return _error(start_response, "503 Service Unavailable", "RequestLimitExceeded", "Request limit exceeded.")
        if action == "RunInstances":
            return self._run_instances(environ, start_response, form, access_key, region, record)
        environ["wsgi.input"] = io.BytesIO(body)
        status, headers, out = self._forward(environ, body)
        record("ok" if status.startswith("2") else "error")
        start_response(status, headers)
        return [out]

    def _run_instances(self, environ, start_response, form, access_key, region, record):
        token = form.get("ClientToken")
        key = (access_key, region, token)
        with self._lock:
            token_lock = self._token_locks.setdefault(key, threading.Lock()) if token else threading.Lock()
        with token_lock:  # one launch per token even when replays race
            if token and key in self._replies:
                status, headers, out = self._replies[key]
                record("ok")
                start_response(status, headers)
                return [out]
            low, high = int(form.get("MinCount", 1)), int(form.get("MaxCount", 1))
            with self._lock:
                launch = high if self.stock is None else min(high, self.stock)
                if launch < low:
                    record("InsufficientInstanceCapacity")
                    return _error(start_response, "500 Internal Server Error", "InsufficientInstanceCapacity",
                                  "There is no Spot capacity available that matches your request.")
                if self.stock is not None:
                    self.stock -= launch
            form = {**form, "MinCount": str(launch), "MaxCount": str(launch)}
            body = urlencode(form).encode()
            status, headers, out = self._forward(environ, body)
            if token and status.startswith("2"):
                self._replies[key] = (status, headers, out)
            record("ok" if status.startswith("2") else "error")
            start_response(status, headers)
            return [out]

    def _forward(self, environ, body: bytes):
        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        out = b"".join(self.app(environ, start_response))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(out))))
        return captured["status"], headers, out


class MotoFrontServer:
    """The front served from a background thread on 127.0.0.1."""

    def __init__(self, front: MotoFront):
        from werkzeug.serving import make_server

        self.front = front
        self._server = make_server("127.0.0.1", 0, front, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._thread.join(5)

"""The embedded HTTP server of `manage.py run`: waitress, not Werkzeug's development server.

Waitress reads requests in one asynchronous loop and hands only complete ones to a fixed pool of
BRIDGX_SERVER_THREADS threads, so slow or idle connections hold no thread (they held one each
before); idle connections close after BRIDGX_SERVER_READ_TIMEOUT seconds, and at most
BRIDGX_SERVER_CONNECTION_LIMIT are open at once. Its `Server` header names no version.
"""
from __future__ import annotations

import threading

from flask import Flask

from app.core.security import SERVER_NAME


class EmbeddedServer:
    def __init__(self, app: Flask, host: str, port: int, threads: int | None = None,
                 read_timeout: int | None = None, connection_limit: int | None = None):
        from waitress import create_server
        cfg = app.config
        read_timeout = read_timeout or cfg["SERVER_READ_TIMEOUT"]
        self.server = create_server(
            app, host=host, port=port, threads=threads or cfg["SERVER_THREADS"], ident=SERVER_NAME,
            channel_timeout=read_timeout, cleanup_interval=max(1, min(30, read_timeout // 2)),
            connection_limit=connection_limit or cfg["SERVER_CONNECTION_LIMIT"], max_request_body_size=cfg["MAX_CONTENT_LENGTH"])
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    def serve_forever(self) -> None:
        server = self.server
        try:
            while not self._stop.is_set() and server._map:
                server.asyncore.loop(timeout=0.5, map=server._map, count=1, use_poll=True)
        finally:
            for channel in list(server._map.values()):
                channel.close()
            server.task_dispatcher.shutdown()

    def shutdown(self) -> None:
        """Stop from any thread: the loop closes every connection and the pool."""
        self._stop.set()
        try:
            self.server.pull_trigger()
        except OSError:  # the loop already ended and closed its wake-up pipe
            pass

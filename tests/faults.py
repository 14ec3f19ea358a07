"""Fault helpers for tests: a private redis-server and a TCP proxy that can freeze a connection.

Never touch the shared MariaDB or Redis: a test that needs one frozen or stopped puts one of
these in front of it (or runs its own)."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """redis-server on a free port, in memory only; stop()/start() keep the port, freeze()/thaw()
    SIGSTOP/SIGCONT it (connections are accepted by the kernel but never answered)."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        self.workdir, self.port, self.proc = Path(workdir), free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)


class FreezableProxy:
    """A TCP relay to (host, port); freeze() stops relaying bytes (both ways, new connections too)
    without closing anything: the server looks hung."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.running, self.flowing = threading.Event(), threading.Event()
        self.running.set()
        self.flowing.set()
        self.sockets: list[socket.socket] = []
        self.refusing_until = 0.0
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def freeze(self):
        self.flowing.clear()

    def cut(self, seconds: float):
        """The server goes away: every open connection is reset and new ones are refused for `seconds`."""
        self.refusing_until = time.monotonic() + seconds
        for s in list(self.sockets):
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def thaw(self):
        self.flowing.set()

    def _accept(self):
        while self.running.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.refusing_until:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True, name="proxy-pump").start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while not self.flowing.wait(0.05):
                    if not self.running.is_set():
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.running.clear()
        self.flowing.set()
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


class swapped_broker:
    """with swapped_broker(app, url): the app publishes tasks to `url` (not eagerly) until the end."""

    def __init__(self, app, url: str, timeout: float | None = None):
        self.app, self.url, self.timeout = app, url, timeout

    def __enter__(self):
        from workers import celery_init_app
        app = self.app
        self.old = app.extensions["celery"]
        self.saved = {k: app.config[k] for k in ("CELERY_BROKER_URL", "BROKER_TIMEOUT_SECONDS")}
        app.config["CELERY_BROKER_URL"] = self.url
        if self.timeout is not None:
            app.config["BROKER_TIMEOUT_SECONDS"] = self.timeout
        self.celery = celery_init_app(app)
        self.celery.conf.task_always_eager = False
        return self.celery

    def __exit__(self, *exc):
        self.app.config.update(self.saved)
        self.app.extensions["celery"] = self.old
        self.old.set_default()
        self.old.set_current()
        self.celery.close()

"""Worker and beat processes say they are alive (a heartbeat row the API reads), and never
outlive their parent.

- A worker beats as its Celery node name; beat as `beat@<host>:<pid>`. Rows go away on a clean
  shutdown and go stale (BRIDGX_PROCESS_STALE_SECONDS) after a crash.
- The beat that `celery worker -B` forks, and a worker started by `manage.py run`
  (BRIDGX_PARENT_PID), watch their parent: when it is gone they stop, so a killed parent
  never leaves a beat publishing schedules nobody asked for.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from celery.signals import beat_embedded_init, beat_init, worker_ready, worker_shutdown

log = logging.getLogger(__name__)


def _beating(flask_app, name: str, kind: str, stop: threading.Event) -> None:
    from app.extensions import db
    from app.health import service
    interval = flask_app.config["PROCESS_HEARTBEAT_SECONDS"]
    while True:
        try:
            with flask_app.app_context():
                try:
                    service.beat(name, kind)
                finally:
                    db.session.remove()
        except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the process
            log.warning("heartbeat of %s failed: %s", name, type(exc).__name__)
        if stop.wait(interval):
            return


def _forget(flask_app, name: str) -> None:
    from app.extensions import db
    from app.health import service
    try:
        with flask_app.app_context():
            service.forget(name)
            db.session.remove()
    except Exception:  # noqa: BLE001 - it will go stale instead
        pass


def watch_parent(parent_pid: int, grace: float = 8.0) -> None:
    """Stop this process (SIGTERM, then exit after `grace` s) once `parent_pid` is no longer its parent."""
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        log.warning("parent process %s is gone; stopping", parent_pid)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def install(flask_app) -> None:
    """Connect the signals (only processes started from `workers.app` beat)."""
    state = {"stop": threading.Event()}
    parent = os.environ.get("BRIDGX_PARENT_PID")
    if parent and parent.isdigit():
        watch_parent(int(parent))

    @worker_ready.connect(weak=False)
    def _worker_ready(sender=None, **kwargs):
        state["name"] = sender.hostname if sender is not None else f"worker@{socket.gethostname()}"
        threading.Thread(target=_beating, args=(flask_app, state["name"], "worker", state["stop"]),
                         name="process-heartbeat", daemon=True).start()

    @worker_shutdown.connect(weak=False)
    def _worker_shutdown(sender=None, **kwargs):
        state["stop"].set()
        if "name" in state:
            _forget(flask_app, state["name"])

    @beat_embedded_init.connect(weak=False)
    def _beat_embedded(sender=None, **kwargs):
        watch_parent(os.getppid(), grace=2.0)

    @beat_init.connect(weak=False)
    def _beat_init(sender=None, **kwargs):
        from app.extensions import db
        with flask_app.app_context():
            db.engine.dispose(close=False)  # a forked beat must not share the worker's connections
        name = f"beat@{socket.gethostname()}:{os.getpid()}"
        stop = threading.Event()
        threading.Thread(target=_beating, args=(flask_app, name, "beat", stop), name="process-heartbeat",
                         daemon=True).start()
        import atexit
        atexit.register(lambda: (stop.set(), _forget(flask_app, name)))


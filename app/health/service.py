"""Process liveness: workers and beat write a heartbeat row; the API reads who was seen lately."""
from __future__ import annotations

import os
import socket
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from app.core.db import transaction, utcnow
from app.extensions import db
from app.health.models import ProcessHeartbeat

WORKER, BEAT = "worker", "beat"


def beat(name: str, kind: str) -> None:
    """Record that process `name` is alive now (insert on first call)."""
    now = utcnow()
    with transaction():
        done = db.session.execute(update(ProcessHeartbeat).where(ProcessHeartbeat.name == name)
                                  .values(seen_at=now, pid=os.getpid(), kind=kind)).rowcount
        if not done:
            db.session.add(ProcessHeartbeat(name=name, kind=kind, hostname=socket.gethostname(), pid=os.getpid(),
                                            started_at=now, seen_at=now))


def forget(name: str) -> None:
    """A process shutting down cleanly removes its row at once."""
    with transaction():
        db.session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.name == name))


def live(kind: str | None = None) -> list[ProcessHeartbeat]:
    """Processes seen within BRIDGX_PROCESS_STALE_SECONDS, oldest first."""
    since = utcnow() - timedelta(seconds=current_app.config["PROCESS_STALE_SECONDS"])
    query = select(ProcessHeartbeat).where(ProcessHeartbeat.seen_at >= since).order_by(ProcessHeartbeat.started_at)
    if kind:
        query = query.where(ProcessHeartbeat.kind == kind)
    return list(db.session.scalars(query))


def workers_expected() -> bool:
    """False when tasks run inline (tests, eager mode): nobody needs a worker then."""
    return not current_app.config["EAGER_TASKS"]


def no_worker_warning() -> str | None:
    """A one-line warning when a task just accepted has no live worker to run it."""
    if not workers_expected() or live(WORKER):
        return None
    return ("no live Celery worker has been seen in the last "
            f"{current_app.config['PROCESS_STALE_SECONDS']:g} s: the task waits until one starts")


def version() -> str:
    import configparser
    from pathlib import Path
    parser = configparser.ConfigParser()
    parser.read(Path(__file__).resolve().parents[2] / "setup.cfg")
    return parser.get("metadata", "version", fallback="unknown")


def safe_url(url: str | None) -> str:
    """A database or broker URL with its password masked."""
    if not url:
        return "none"
    from kombu.utils.url import maybe_sanitize_url
    return maybe_sanitize_url(url, mask="***")


def tasks_in_flight() -> dict:
    from sqlalchemy import func

    from app.tasks.models import INIT, RUNNING, Task
    rows = dict(db.session.execute(select(Task.status, func.count()).where(Task.status.in_((INIT, RUNNING)))
                                   .group_by(Task.status)).all())
    oldest = db.session.scalar(select(func.min(Task.created_at)).where(Task.status.in_((INIT, RUNNING))))
    return {"INIT": rows.get(INIT, 0), "RUNNING": rows.get(RUNNING, 0),
            "oldest_age_seconds": round((utcnow() - oldest).total_seconds(), 1) if oldest else None}


def deployment_id() -> str:
    from app.tasks import engine
    return engine.install_id()


def describe_deployment() -> dict:
    """What `manage.py info` prints: nothing secret."""
    conf = current_app.config
    flight = tasks_in_flight()
    return {
        "version": version(),
        "deployment_id": deployment_id(),
        "config": os.environ.get("BRIDGX_CONFIG", "embedded"),
        "home": str(conf["HOME"]),
        "database": safe_url(conf["SQLALCHEMY_DATABASE_URI"]),
        "broker": safe_url(conf["CELERY_BROKER_URL"]),
        "workers": [f"{p.name} (pid {p.pid}, seen {p.seen_at:%H:%M:%S} UTC)" for p in live(WORKER)],
        "beat": [f"{p.name} (seen {p.seen_at:%H:%M:%S} UTC)" for p in live(BEAT)],
        "tasks_init": flight["INIT"],
        "tasks_running": flight["RUNNING"],
        "oldest_task_age_s": flight["oldest_age_seconds"],
    }

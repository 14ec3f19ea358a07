"""Celery wired to the Flask app: every task runs inside an app context (Flask's own pattern)."""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask

from workers import redis_transport, sqla_transport  # noqa: F401 - register broker schemes (see each)


def celery_init_app(app: Flask) -> Celery:
    from app.extensions import db

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery = Celery(app.name, task_cls=FlaskTask)
    conf = app.config
    celery.conf.update(
        broker_url=conf["CELERY_BROKER_URL"],
        result_backend=conf["CELERY_RESULT_BACKEND"],
        task_ignore_result=True,
        # A task message is acknowledged only after it ran; one lost with its worker is
        # delivered again. The engine makes a second run harmless (see app/tasks/engine.py).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # A scaling task holds its thread while machines boot (mostly waiting): too few threads and
        # the next clusters' expands queue behind others' boot times while the cloud budget idles.
        worker_concurrency=conf["WORKER_CONCURRENCY"],
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(conf["CELERY_BROKER_URL"], conf["BROKER_TIMEOUT_SECONDS"]),
        # Publishing (an API request handing a task over) gives up after about two socket
        # timeouts when the broker hangs; the request still answers and the resumer starts the task.
        broker_connection_timeout=conf["BROKER_TIMEOUT_SECONDS"],
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        redis_socket_timeout=conf["BROKER_TIMEOUT_SECONDS"],
        redis_socket_connect_timeout=conf["BROKER_TIMEOUT_SECONDS"],
        task_always_eager=conf["EAGER_TASKS"],
        timezone="UTC",
        imports=("workers.tasks", "workers.network_tasks"),
        beat_schedule=beat_schedule(conf),
        worker_hijack_root_logger=False,
        bridgx_log_format=conf["LOG_FORMAT"],
        bridgx_log_level=conf["LOG_LEVEL"],
    )
    from app.core import logs
    from app.metrics.collectors import install_celery
    logs.install_celery(celery)
    install_celery(celery, app)
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def transport_options(broker_url: str, timeout: float = 5.0) -> dict:
    if broker_url.startswith("redis"):
        # An unacknowledged message comes back after this long if its worker vanished. Socket
        # timeouts turn a frozen Redis into an error instead of a hang (the worker's blocking
        # reads wait 1 s at a time, well inside them).
        return {"visibility_timeout": 3600, "socket_timeout": timeout, "socket_connect_timeout": timeout,
                "health_check_interval": 10}
    return {}  # the SQLAlchemy transport passes options to create_engine; it polls every second


def beat_schedule(conf) -> dict:
    return {
        "resume-stale-tasks": {"task": "bridgx.scaling.resume_stale", "schedule": max(conf["SCALE_STALE_SECONDS"] / 3, 2.0)},
        "reconcile": {"task": "bridgx.scaling.reconcile", "schedule": conf["RECONCILE_SECONDS"]},
        "elastic-control": {"task": "bridgx.elastic.control", "schedule": conf["ELASTIC_CONTROLLER_SECONDS"]},
        "refresh-catalog": {"task": "bridgx.catalog.refresh",
                            "schedule": max(60.0, min(3600.0, conf["CATALOG_TTL_SECONDS"] / 4))},
    }

import threading
import time

from flask import current_app
from marshmallow import Schema, fields
from sqlalchemy import text

from app.core.api import Blueprint, envelope_schema
from app.core.errors import envelope
from app.extensions import db
from app.health import service

blp = Blueprint("health", __name__, description="Liveness and readiness")


class ReadySchema(Schema):
    database = fields.String()
    broker = fields.String()


class HealthSchema(ReadySchema):
    workers = fields.Integer(metadata={"description": "Celery workers seen in the last BRIDGX_PROCESS_STALE_SECONDS"})
    beat = fields.Integer(metadata={"description": "Celery beat processes seen lately (exactly 1 is right)"})
    worker_names = fields.List(fields.String())


def _dependencies() -> dict:
    """{"database": ..., "broker": ...}: "ok" or why not, within BRIDGX_HEALTH_TIMEOUT_SECONDS."""
    timeout = current_app.config["HEALTH_TIMEOUT_SECONDS"]
    engine, celery = db.engine, current_app.extensions["celery"]

    def database():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def broker():
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)

    # Both probes at once, each in its own thread: a frozen server costs at most `timeout`.
    probes = {name: _Probe(fn) for name, fn in (("database", database), ("broker", broker))}
    deadline = time.monotonic() + timeout
    return {name: probe.result(timeout, deadline) for name, probe in probes.items()}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, envelope_schema("ReadyEnvelope", ReadySchema))
@blp.doc(security=[])
def readyz():
    """For load balancers: 200 when this API process can serve (database and broker reachable), else 503."""
    status = _dependencies()
    ok = all(v == "ok" for v in status.values())
    return envelope(200 if ok else 503, "success" if ok else "unavailable", status)


@blp.route("/healthz", methods=["GET"])
@blp.response(200, envelope_schema("HealthEnvelope", HealthSchema))
@blp.doc(security=[])
def healthz():
    """The whole service: database, broker, live Celery workers and beat. 503 naming what is missing
    (no live worker means accepted tasks wait; no beat means stuck tasks are not resumed)."""
    status = _dependencies()
    ok = all(v == "ok" for v in status.values())
    if status["database"] == "ok":
        workers = service.live(service.WORKER)
        status.update(workers=len(workers), beat=len(service.live(service.BEAT)),
                      worker_names=[w.name for w in workers])
        if service.workers_expected():
            ok = ok and status["workers"] > 0 and status["beat"] > 0
    return envelope(200 if ok else 503, "success" if ok else "unavailable", status)


class _Probe(threading.Thread):
    def __init__(self, fn):
        super().__init__(daemon=True, name="healthz-probe")
        self.fn, self.outcome = fn, None
        self.start()

    def run(self):
        try:
            self.fn()
            self.outcome = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            self.outcome = f"unavailable: {type(exc).__name__}"

    def result(self, timeout: float, deadline: float) -> str:
        self.join(max(0.0, deadline - time.monotonic()))
        return self.outcome or f"unavailable: no answer within {timeout:g}s"

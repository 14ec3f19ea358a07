from flask import current_app
from marshmallow import Schema, fields
from sqlalchemy import text

from app.core.api import Blueprint, envelope_schema
from app.core.errors import envelope
from app.extensions import db

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    database = fields.String()
    broker = fields.String()


@blp.route("/healthz", methods=["GET"])
@blp.response(200, envelope_schema("HealthEnvelope", HealthSchema))
@blp.doc(security=[])
def healthz():
    """200 once the API, the database and the broker are usable; 503 naming what is not."""
    status = {"database": "ok", "broker": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        status["database"] = f"unavailable: {type(exc).__name__}"
    try:
        celery = current_app.extensions["celery"]
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:  # noqa: BLE001
        status["broker"] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in status.values())
    return envelope(200 if ok else 503, "success" if ok else "unavailable", status)

import hmac

from flask import Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from app.core.api import Blueprint
from app.core.errors import Forbidden, Unauthorized
from app.extensions import db
from app.metrics.collectors import multiprocess
from app.tasks.models import FAILED, INIT, PARTIAL_SUCCESS, RUNNING, SUCCESS, Task

blp = Blueprint("metrics", __name__, description="Prometheus metrics")


class _TaskStatus:
    """Tasks by status, read from the database at scrape time (right in every process)."""

    def collect(self):
        gauge = GaugeMetricFamily("bridgx_tasks", "Scaling tasks by status", labels=["status"])
        counts = dict(db.session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
        for status in (INIT, RUNNING, SUCCESS, FAILED, PARTIAL_SUCCESS):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge


def _check_access() -> None:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())):
            raise Unauthorized({"reason": "metrics need the BRIDGX_METRICS_TOKEN bearer token"})
    elif not current_app.config.get("METRICS_PUBLIC"):
        raise Forbidden({"reason": "set BRIDGX_METRICS_TOKEN (or BRIDGX_METRICS_PUBLIC=1) to read metrics"})


@blp.route("/metrics", methods=["GET"])
@blp.doc(security=[], responses={200: {"description": "Prometheus text format",
                                       "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics():
    """Prometheus metrics: tasks by status, machines created/deleted, cloud calls, throttles, latency.

    With BRIDGX_METRICS_TOKEN set, only `Authorization: Bearer <that token>` may read them;
    without one, anonymous reads are allowed only where BRIDGX_METRICS_PUBLIC is on (the embedded
    default; production defaults to off)."""
    _check_access()
    registry = CollectorRegistry()
    if multiprocess():
        from prometheus_client import multiprocess as mp
        mp.MultiProcessCollector(registry)
    else:
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(_TaskStatus())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from app.core.api import Blueprint
from app.elastic.metrics import ElasticCollector
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


@blp.route("/metrics", methods=["GET"])
@blp.doc(security=[], responses={200: {"description": "Prometheus text format",
                                       "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics():
    """Prometheus metrics: tasks by status, machines created/deleted, cloud calls, throttles, latency."""
    registry = CollectorRegistry()
    if multiprocess():
        from prometheus_client import multiprocess as mp
        mp.MultiProcessCollector(registry)
    else:
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(_TaskStatus())
    registry.register(ElasticCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

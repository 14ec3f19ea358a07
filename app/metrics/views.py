import hmac

from flask import Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from app.core.api import Blueprint
from app.core.db import utcnow
from app.core.errors import Forbidden, Unauthorized
from app.elastic.metrics import ElasticCollector
from app.extensions import db
from app.metrics.collectors import multiprocess
from app.tasks.models import FAILED, INIT, PARTIAL_SUCCESS, RUNNING, SUCCESS, Task

blp = Blueprint("metrics", __name__, description="Prometheus metrics")


class _SharedState:
    """Read from the database and the broker at scrape time (right in every process)."""

    def collect(self):
        from app.health import service as health
        gauge = GaugeMetricFamily("bridgx_tasks", "Scaling tasks by status", labels=["status"])
        counts = dict(db.session.execute(select(Task.status, func.count()).group_by(Task.status)).all())
        for status in (INIT, RUNNING, SUCCESS, FAILED, PARTIAL_SUCCESS):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge
        oldest = db.session.scalar(select(func.min(Task.created_at)).where(Task.status.in_((INIT, RUNNING))))
        yield GaugeMetricFamily("bridgx_oldest_unfinished_task_age_seconds",
                                "Age of the oldest INIT or RUNNING scaling task (0 when none)",
                                value=(utcnow() - oldest).total_seconds() if oldest else 0.0)
        live = GaugeMetricFamily("bridgx_live_processes", "Celery processes seen lately (heartbeat)", labels=["kind"])
        for kind in (health.WORKER, health.BEAT):
            live.add_metric([kind], len(health.live(kind)))
        yield live
        depth = _queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("bridgx_queue_depth", "Messages waiting in the Celery queue", value=depth)


def _queue_depth():
    """Messages waiting in the default queue; None when the broker cannot say (or is down)."""
    from kombu.exceptions import ChannelError
    celery = current_app.extensions["celery"]
    try:
        with celery.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            try:
                return conn.default_channel.queue_declare(celery.conf.task_default_queue, passive=True).message_count
            except ChannelError:  # the queue does not exist yet (Redis: an empty queue has no key)
                return 0
    except Exception:  # noqa: BLE001 - a missing sample is better than a failed scrape
        return None


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
    """Prometheus metrics: tasks, queue, workers, machines, cloud calls, throttles, HTTP, reconciler.

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
    registry.register(_SharedState())
    registry.register(ElasticCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

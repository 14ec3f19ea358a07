"""Prometheus metrics. Counters live in the process that counts (API or worker); with
PROMETHEUS_MULTIPROC_DIR set (`run`, gunicorn.conf.py and workers/app.py set it up, see
app/metrics/multiproc.py) /metrics adds up every process. Gauges that describe shared state
(tasks, queue, workers) are read at scrape time instead (app/metrics/views.py)."""
from __future__ import annotations

import os

from prometheus_client import Counter, Histogram

MACHINES_CREATED = Counter("bridgx_machines_created", "Machines the cloud accepted to create", ["provider"])
MACHINES_DELETED = Counter("bridgx_machines_deleted", "Machines the cloud accepted to delete", ["provider"])
CLOUD_CALLS = Counter("bridgx_cloud_calls", "Cloud API attempts", ["provider", "api", "outcome"])
THROTTLES = Counter("bridgx_cloud_throttles", "Cloud API attempts answered with throttling", ["provider", "api"])
CALL_SECONDS = Histogram("bridgx_cloud_call_seconds", "Cloud API attempt latency", ["provider", "api"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))

HTTP_REQUESTS = Counter("bridgx_http_requests", "API requests answered", ["method", "endpoint", "status"])
HTTP_SECONDS = Histogram("bridgx_http_request_seconds", "API request latency", ["method", "endpoint"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CELERY_TASK_SECONDS = Histogram("bridgx_celery_task_seconds", "Celery task run time in the worker",
                                ["task", "state"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600))
SCALING_TASK_SECONDS = Histogram("bridgx_scaling_task_seconds", "Scaling task duration, start to finish",
                                 ["action", "status"], buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600))
RECONCILE_PASSES = Counter("bridgx_reconcile_passes", "Reconciler passes finished")
RECONCILE_ACTIONS = Counter("bridgx_reconcile_actions", "Reconciler corrections, by kind", ["action"])


def on_cloud_call(provider, api: str, outcome: str, seconds: float) -> None:
    name = provider.name
    CLOUD_CALLS.labels(name, api, outcome).inc()
    CALL_SECONDS.labels(name, api).observe(seconds)
    if outcome == "throttled":
        THROTTLES.labels(name, api).inc()


def install() -> None:
    from app.providers import registry
    registry.remove_call_listener(on_cloud_call)
    registry.add_call_listener(on_cloud_call)


def install_http(app) -> None:
    """Count every API request by route template (not raw path: ids would explode the series)."""
    import time

    from flask import g, request

    @app.before_request
    def _start_timer():
        g._metrics_started = time.monotonic()

    @app.after_request
    def _count(response):
        started = g.pop("_metrics_started", None)
        if started is not None:
            endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
            HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
            HTTP_SECONDS.labels(request.method, endpoint).observe(time.monotonic() - started)
        return response


def install_celery(celery, app) -> None:
    """Task run times, scaling task durations and reconciler actions, counted in the worker."""
    import time

    from celery.signals import task_postrun, task_prerun
    started: dict = {}

    @task_prerun.connect(weak=False)
    def _prerun(task_id=None, **kwargs):
        started[task_id] = time.monotonic()

    @task_postrun.connect(weak=False)
    def _postrun(task_id=None, task=None, args=None, retval=None, state=None, **kwargs):
        began = started.pop(task_id, None)
        if began is None or task is None:
            return
        CELERY_TASK_SECONDS.labels(task.name, state or "UNKNOWN").observe(time.monotonic() - began)
        try:
            if task.name == "bridgx.scaling.run" and args:
                with app.app_context():
                    _observe_scaling_task(int(args[0]))
            elif task.name == "bridgx.scaling.reconcile" and isinstance(retval, dict):
                RECONCILE_PASSES.inc()
                for action, count in retval.items():
                    if isinstance(count, int) and count > 0:
                        RECONCILE_ACTIONS.labels(action).inc(count)
        except Exception:  # noqa: BLE001 - metrics must never break a task
            pass


def _observe_scaling_task(task_id: int) -> None:
    from app.extensions import db
    from app.tasks.models import FINISHED, Task
    try:
        task = db.session.get(Task, task_id)
        if task is not None and task.status in FINISHED and task.started_at and task.finished_at:
            SCALING_TASK_SECONDS.labels(task.action, task.status).observe(
                (task.finished_at - task.started_at).total_seconds())
    finally:
        db.session.remove()


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

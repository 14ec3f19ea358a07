"""One log format for every process (API, worker, beat, manage.py run, gunicorn): JSON lines by
default (python-json-logger), or plain text with BRIDGX_LOG_FORMAT=text. Every line carries the
request id of the API call it serves, in the API and in the Celery task that call started."""
from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("bridgx_request_id", default=None)
HEADER = "X-Request-Id"
TASK_HEADER = "bridgx_request_id"  # the Celery message header carrying it
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def new_request_id(offered: str | None = None) -> str:
    """The caller's id when it is a sane token (≤128 chars of [A-Za-z0-9._:-]), else a fresh one."""
    if offered and _VALID.match(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


# Periodic housekeeping tasks run every few seconds; their "received / succeeded / sending due
# task" lines would bury everything else. The tasks log themselves when they act.
PERIODIC_TASKS = frozenset({"bridgx.scaling.resume_stale", "bridgx.scaling.reconcile", "bridgx.catalog.refresh",
                            "bridgx.scaling.heartbeat", "bridgx.elastic.control"})
_CELERY_CHATTER = frozenset({"celery.app.trace", "celery.worker.strategy", "celery.beat"})


class QuietPeriodic(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name not in _CELERY_CHATTER or record.levelno > logging.INFO:
            return True
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            return data.get("name") not in PERIODIC_TASKS
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(a in PERIODIC_TASKS for a in args if isinstance(a, str))


def formatter(kind: str) -> logging.Formatter:
    if kind == "text":
        return logging.Formatter(TEXT_FORMAT)
    from pythonjsonlogger.core import RESERVED_ATTRS as RESERVED
    from pythonjsonlogger.json import JsonFormatter
    return JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s",
                         rename_fields={"levelname": "level", "name": "logger"}, timestamp="ts",
                         reserved_attrs=[*RESERVED, "data"])


def handler(kind: str = "json") -> logging.Handler:
    """Our stderr handler (also built by gunicorn.conf.py's logging dict)."""
    out = logging.StreamHandler(sys.stderr)
    out._bridgx = True
    out.setFormatter(formatter(kind))
    out.addFilter(RequestIdFilter())
    out.addFilter(QuietPeriodic())
    return out


def setup(kind: str = "json", level: str = "INFO") -> None:
    """Send every logger's records to stderr in one format (idempotent: one handler of ours)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bridgx", False):
            root.removeHandler(old)
    root.addHandler(handler(kind))
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings (e.g. Celery's SecurityWarning) become log lines too


def install_flask(app) -> None:
    """Accept X-Request-Id (or make one), return it on every response, keep it for log lines."""
    from flask import g, request

    @app.before_request
    def _request_id():
        g.request_id = new_request_id(request.headers.get(HEADER))
        g._request_id_token = REQUEST_ID.set(g.request_id)

    @app.after_request
    def _return_request_id(response):
        rid = g.get("request_id")
        if rid:
            response.headers[HEADER] = rid
        return response

    @app.teardown_request
    def _reset(_exc):
        token = g.pop("_request_id_token", None)
        if token is not None:
            try:
                REQUEST_ID.reset(token)
            except ValueError:  # set in another context (a streamed response)
                REQUEST_ID.set(None)


def install_celery(celery) -> None:
    """Carry the request id in each task message's headers and restore it around the task."""
    from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

    @setup_logging.connect(weak=False)
    def _logging(**kwargs):  # a receiver here stops Celery from installing its own format
        conf = celery.conf
        setup(conf.get("bridgx_log_format", "json"), conf.get("bridgx_log_level", "INFO"))

    @before_task_publish.connect(weak=False)
    def _publish(headers=None, **kwargs):
        rid = REQUEST_ID.get()
        if rid and headers is not None:
            headers[TASK_HEADER] = rid

    @task_prerun.connect(weak=False)
    def _prerun(task=None, **kwargs):
        rid = getattr(task.request, TASK_HEADER, None) or (task.request.headers or {}).get(TASK_HEADER)
        # eager tasks (tests) run inside the request that started them: keep its id
        task.request._bridgx_token = REQUEST_ID.set(rid or REQUEST_ID.get() or f"task-{task.request.id}")

    @task_postrun.connect(weak=False)
    def _postrun(task=None, **kwargs):
        token = getattr(task.request, "_bridgx_token", None)
        if token is not None:
            try:
                REQUEST_ID.reset(token)
            except ValueError:
                REQUEST_ID.set(None)

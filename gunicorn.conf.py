"""gunicorn settings for the Procfile's `web` process (gunicorn reads ./gunicorn.conf.py itself).

- PORT, WEB_CONCURRENCY (worker processes, default 4) and BRIDGX_WEB_THREADS (threads each, 4).
- Access log on stdout and gunicorn's own log, in the same JSON lines as the app (app/core/logs.py),
  with the request id the API returned.
- Prometheus multiprocess mode: every worker writes to one directory and answers /metrics for all.
"""
import os
import sys

from app.metrics import multiproc
from config import ConfigError, load_config

try:
    load_config()  # a bad setting stops the master with one line, not one traceback per worker
except ConfigError as exc:
    print(f"Error: {exc}", file=sys.stderr)
    raise SystemExit(2)
multiproc.prepare()  # before any worker imports prometheus_client

bind = f"0.0.0.0:{os.environ.get('PORT', '9090')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("BRIDGX_WEB_THREADS", "4"))
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
_format = os.environ.get("BRIDGX_LOG_FORMAT", "json").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["bridgx"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True, "qualname": "gunicorn.access"},
    },
    "handlers": {"bridgx": {"()": "app.core.logs.handler", "kind": _format}},
}


def child_exit(server, worker):
    multiproc.mark_dead(worker.pid)

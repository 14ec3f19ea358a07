"""Entry point for `celery -A workers.app worker|beat|flower`."""
from app.metrics import multiproc

multiproc.prepare()  # counters go where the API's /metrics reads them (before prometheus_client loads)

import sys  # noqa: E402

from app import create_app  # noqa: E402
from config import ConfigError  # noqa: E402
from workers import heartbeat  # noqa: E402

try:
    flask_app = create_app()
except ConfigError as exc:  # one line naming the variable, not a traceback
    print(f"Error: {exc}", file=sys.stderr)
    raise SystemExit(2)
celery_app = flask_app.extensions["celery"]
heartbeat.install(flask_app)

from workers import tasks  # noqa: E402,F401 - registers the tasks

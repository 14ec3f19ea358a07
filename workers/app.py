"""Entry point for `celery -A workers.app worker|beat|flower`."""
from app.metrics import multiproc

multiproc.prepare()  # counters go where the API's /metrics reads them (before prometheus_client loads)

from app import create_app  # noqa: E402
from workers import heartbeat  # noqa: E402

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
heartbeat.install(flask_app)

from workers import tasks  # noqa: E402,F401 - registers the tasks

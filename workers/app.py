"""Entry point for `celery -A workers.app worker|beat|flower`."""
from app import create_app
from workers import heartbeat

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
heartbeat.install(flask_app)

from workers import tasks  # noqa: E402,F401 - registers the tasks

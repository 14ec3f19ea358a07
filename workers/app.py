"""Entry point for `celery -A workers.app worker|beat|flower`."""
from app import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]

from workers import tasks  # noqa: E402,F401 - registers the tasks

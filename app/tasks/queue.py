"""Enqueueing by task name: the one way app/ hands work to Celery, so no service imports workers/."""
from __future__ import annotations

from flask import current_app


def enqueue(name: str, *args) -> None:
    """Send the Celery task `name` with `args`; run it in place when tasks are eager (tests, demos)."""
    celery = current_app.extensions["celery"]
    if celery.conf.task_always_eager:  # send_task ignores eager mode: run the registered task
        celery.loader.import_default_modules()
        celery.tasks[name].apply(args=args)
        return
    celery.send_task(name, args=args)

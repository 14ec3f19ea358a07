"""Thin Celery tasks: load ids, call a service, nothing else."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

log = logging.getLogger(__name__)


class TaskNotSuccessful(Exception):
    """The scaling task ended FAILED or PARTIAL_SUCCESS: the Celery result says so (FAILURE in
    Flower). Declared in `throws`: logged without a traceback, never retried; the message is
    acknowledged as usual."""


@shared_task(name="bridgx.scaling.run", acks_late=True, throws=(TaskNotSuccessful,))
def run_scaling_task(task_id: int) -> str:
    """Run or resume one expand/shrink task (safe to deliver twice)."""
    from app.tasks import engine, service
    result = engine.run(task_id)
    if result == "handed-back":  # this worker is stopping: another one takes the task at once
        try:
            run_scaling_task.delay(task_id)
        except Exception:  # noqa: BLE001 - the claim is released: the resumer restarts it
            log.warning("could not re-enqueue task %s; the resumer will", task_id)
    if result in ("finished", "error"):
        status, line = service.outcome(task_id)
        if status != "SUCCESS":
            raise TaskNotSuccessful(line)
    return result


@shared_task(name="bridgx.scaling.resume_stale")
def resume_stale_tasks() -> list:
    """Re-enqueue unfinished tasks whose worker died or that were never started."""
    from flask import current_app

    from app.tasks import service
    ids = service.stale_tasks(current_app.config["SCALE_STALE_SECONDS"])
    for task_id in ids:
        run_scaling_task.delay(task_id)
    if ids:
        log.warning("resuming tasks %s", ids)
    return ids


@shared_task(name="bridgx.scaling.reconcile")
def reconcile() -> dict:
    """Compare every idle cluster's machines in the cloud with the database."""
    from app.tasks.reconcile import reconcile_all
    return reconcile_all()


@worker_ready.connect
def _resume_on_start(sender=None, **kwargs):
    resume_stale_tasks.delay()


@worker_shutting_down.connect
def _hand_back_on_shutdown(sig=None, how=None, exitcode=None, **kwargs):
    """SIGTERM (warm shutdown): running scaling tasks stop between steps and release their claim."""
    from app.tasks import engine
    engine.SHUTDOWN.set()
@shared_task(name="bridgx.elastic.control")
def elastic_control() -> dict:
    """One elastic-controller pass (beat); a pass finding the lease held elsewhere does nothing."""
    from app.elastic.controller import run_pass
    return run_pass()

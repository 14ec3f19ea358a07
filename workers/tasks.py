"""Thin Celery tasks: load ids, call a service, nothing else."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

log = logging.getLogger(__name__)


@shared_task(name="bridgx.scaling.run", acks_late=True)
def run_scaling_task(task_id: int) -> str:
    """Run or resume one expand/shrink task (safe to deliver twice)."""
    from app.tasks import engine
    return engine.run(task_id)


@shared_task(name="bridgx.scaling.resume_stale")
def resume_stale_tasks() -> list:
    """Re-enqueue unfinished tasks whose worker died or that were never started."""
    from app.tasks import engine
    ids = engine.resume_stale()
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


@shared_task(name="bridgx.elastic.control")
def elastic_control() -> dict:
    """One elastic-controller pass (beat); a pass finding the lease held elsewhere does nothing."""
    from app.elastic.controller import run_pass
    return run_pass()

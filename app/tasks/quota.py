"""Per-organisation quotas: live machines, machines per task, tasks in flight.

Deployment-wide defaults come from BRIDGX_QUOTA_*; an operator overrides them per organisation
with `manage.py set-quota` (table `org_quotas`, NULL = the default). 0 means no limit. The check
runs inside the transaction that creates the task, after locking the organisation's row, so two
concurrent requests cannot both squeeze under a limit, and the API and `manage.py expand` (both
go through tasks.service) enforce exactly the same rules.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select, update

from app.auth.models import Organization, OrgQuota
from app.core.errors import QuotaExceeded
from app.extensions import db
from app.instances.models import LIVE, PENDING, Instance
from app.tasks.models import EXPAND, Task

LIMITS = {  # quota column → config default
    "max_live_instances": "QUOTA_LIVE_INSTANCES",
    "max_instances_per_task": "QUOTA_INSTANCES_PER_TASK",
    "max_tasks_in_flight": "QUOTA_TASKS_IN_FLIGHT",
}


def limits(org_id: int) -> dict[str, int]:
    """The effective limits of an organisation (0 = unlimited)."""
    row = db.session.get(OrgQuota, org_id)
    out = {}
    for column, setting in LIMITS.items():
        value = getattr(row, column) if row is not None else None
        out[column] = current_app.config[setting] if value is None else value
    return out


def usage(org_id: int) -> dict[str, int]:
    """Machines the organisation has or has asked for, and its unfinished tasks.

    Live machines = live instance rows + what unfinished expand tasks have yet to create.
    """
    live = db.session.scalar(select(func.count()).select_from(Instance).where(
        Instance.org_id == org_id, Instance.status.in_(LIVE)))
    unfinished = db.session.execute(select(Task.id, Task.action, Task.count, Task.success_num, Task.fail_num).where(
        Task.org_id == org_id, Task.lock_cluster_id.is_not(None))).all()
    outstanding = 0
    for task_id, action, count, success, fail in unfinished:
        if action == EXPAND:
            pending = db.session.scalar(select(func.count()).select_from(Instance).where(
                Instance.task_id == task_id, Instance.status == PENDING))
            outstanding += max(count - success - fail - pending, 0)
    return {"max_live_instances": live + outstanding, "max_tasks_in_flight": len(unfinished)}


def check_expand(org_id: int, count: int) -> None:
    """Raise QuotaExceeded when adding `count` machines would pass a limit. Call inside the
    transaction that creates the task: it locks the organisation row first, with a no-op UPDATE
    (a row lock in MySQL; the database write lock in SQLite, taken before anything is read)."""
    db.session.execute(update(Organization).where(Organization.id == org_id).values(id=Organization.id))
    limit = limits(org_id)
    if limit["max_instances_per_task"] and count > limit["max_instances_per_task"]:
        raise QuotaExceeded("max_instances_per_task", limit["max_instances_per_task"], 0, count)
    used = usage(org_id)
    if limit["max_tasks_in_flight"] and used["max_tasks_in_flight"] + 1 > limit["max_tasks_in_flight"]:
        raise QuotaExceeded("max_tasks_in_flight", limit["max_tasks_in_flight"], used["max_tasks_in_flight"], 1)
    if limit["max_live_instances"] and used["max_live_instances"] + count > limit["max_live_instances"]:
        raise QuotaExceeded("max_live_instances", limit["max_live_instances"], used["max_live_instances"], count)


def set_quota(org_name: str, values: dict[str, int | None]) -> dict[str, int]:
    """Operator override: {column: value or None (back to the default)}; returns the effective limits."""
    from app.core.db import transaction
    from app.core.errors import NotFound
    with transaction():
        org = db.session.scalar(select(Organization).where(Organization.name == org_name))
        if org is None:
            raise NotFound({"org": f"no organisation {org_name!r}"})
        row = db.session.get(OrgQuota, org.id) or OrgQuota(org_id=org.id)
        for column, value in values.items():
            setattr(row, column, value)
        db.session.add(row)
    return limits(org.id)

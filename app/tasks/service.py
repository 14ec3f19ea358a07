"""Scaling tasks."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.tasks.models import Task


def unfinished_task_of(cluster_id: int) -> Task | None:
    return db.session.scalar(select(Task).where(Task.lock_cluster_id == cluster_id))

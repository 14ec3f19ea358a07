"""Inventory queries."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.instances.models import LIVE, Instance


def live_count_by_cluster(cluster_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Instance.cluster_id == cluster_id,
                                                        Instance.status.in_(LIVE)))

"""Two sightings before anything destructive, shared by the reconciler and self-healing.

Each pass records what it saw in `reconcile_marks` (one row per cluster, kind and instance id, with
the time of its first sighting), so the evidence survives a restart; a later pass that sees the same
thing again may act. Each caller owns its kinds: a pass drops only its own marks that it no longer
sees, never another caller's evidence.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from app.extensions import db
from app.tasks.models import ReconcileMark


def sight(cluster_id: int, kinds: tuple, seen: set, now: datetime, confirm_before: datetime
          ) -> tuple[list, dict, set]:
    """Record this pass's sightings `seen` ({(kind, instance id)}, kinds among `kinds`) and commit.

    Marks of `kinds` not in `seen` are dropped; new ones are written with first_seen_at = now.
    Returns (the new keys, {key: first sighting} of the keys already marked, the confirmed keys:
    seen now and first seen before `confirm_before`; a key first seen in this pass never is)."""
    marks = {(m.kind, m.instance_id): m for m in db.session.scalars(
        select(ReconcileMark).where(ReconcileMark.cluster_id == cluster_id, ReconcileMark.kind.in_(kinds)))}
    stale = [m.id for key, m in marks.items() if key not in seen]
    if stale:
        db.session.execute(delete(ReconcileMark).where(ReconcileMark.id.in_(stale)))
    fresh = [key for key in seen if key not in marks]
    if fresh:
        db.session.execute(insert(ReconcileMark), [{"cluster_id": cluster_id, "kind": k, "instance_id": i,
                                                    "first_seen_at": now} for k, i in fresh])
    first_seen = {key: m.first_seen_at for key, m in marks.items()}
    confirmed = {key for key in seen if key in marks and marks[key].first_seen_at < confirm_before}
    db.session.commit()
    return fresh, first_seen, confirmed


def forget(cluster_id: int, kinds: tuple, instance_ids) -> None:
    """Drop the marks of these machines (acted upon); the caller commits."""
    db.session.execute(delete(ReconcileMark).where(ReconcileMark.cluster_id == cluster_id,
                                                   ReconcileMark.kind.in_(kinds),
                                                   ReconcileMark.instance_id.in_(list(instance_ids))))

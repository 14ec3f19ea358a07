"""Scheduled scaling: cron expressions (5 fields, cronsim) evaluated in the schedule's timezone.

Firing once: each pass computes, per schedule, the latest matching minute at or before now. If
that minute is later than the schedule's `last_slot`, a conditional UPDATE moves `last_slot` to it
(only one process can win) and, in the same transaction, the cluster's desired/min/max change.

Missed runs (the service was down): only the latest missed minute is considered; it runs if it is
at most BRIDGX_SCHEDULE_GRACE_SECONDS old, otherwise it is recorded as skipped. Earlier missed
minutes are never replayed (they would be overridden by the latest one anyway). A new or edited
schedule starts from the minute it was saved: it never fires for a minute before that.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from cronsim import CronSim
from flask import current_app
from sqlalchemy import or_, select, update

from app.clusters.models import Cluster
from app.core.db import utcnow
from app.elastic.models import ScalingSchedule
from app.extensions import db

log = logging.getLogger(__name__)


def minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def latest_slot(cron: str, tz: str, now: datetime) -> datetime:
    """The latest minute matching `cron` in `tz` at or before `now` (naive UTC in and out)."""
    local = minute(now).replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz)) + timedelta(seconds=1)
    hit = next(iter(CronSim(cron, local, reverse=True)))
    return hit.astimezone(timezone.utc).replace(tzinfo=None)


def next_slot(cron: str, tz: str, now: datetime) -> datetime:
    local = minute(now).replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz))
    hit = next(iter(CronSim(cron, local)))
    return hit.astimezone(timezone.utc).replace(tzinfo=None)


def apply_sizes(cluster: Cluster, desired, min_size, max_size) -> None:
    """New bounds, then desired clamped into them (a schedule never leaves desired out of range)."""
    if min_size is not None:
        cluster.min_size = min_size
    if max_size is not None:
        cluster.max_size = max_size
    if desired is not None:
        cluster.desired = desired
    if cluster.desired is not None:
        if cluster.max_size is not None:
            cluster.desired = min(cluster.desired, cluster.max_size)
        if cluster.min_size is not None:
            cluster.desired = max(cluster.desired, cluster.min_size)


def fire_due(now: datetime | None = None) -> list[dict]:
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["SCHEDULE_GRACE_SECONDS"])
    fired = []
    for s in db.session.scalars(select(ScalingSchedule).where(ScalingSchedule.enabled.is_(True))).all():
        try:
            slot = latest_slot(s.cron, s.timezone, now)
        except Exception:  # noqa: BLE001 - validated on save; a bad row must not stop the others
            log.exception("schedule %s has an unusable cron %r", s.id, s.cron)
            continue
        if s.last_slot is not None and slot <= s.last_slot:
            continue
        late = now - slot > grace
        result = f"skipped: missed at {slot:%Y-%m-%d %H:%M} UTC, more than {grace.total_seconds():g}s ago" \
            if late else f"fired at {slot:%Y-%m-%d %H:%M} UTC"
        won = db.session.execute(update(ScalingSchedule).where(
            ScalingSchedule.id == s.id, or_(ScalingSchedule.last_slot.is_(None), ScalingSchedule.last_slot < slot))
            .values(last_slot=slot, last_result=result[:255]))
        if won.rowcount != 1:
            db.session.rollback()
            continue
        cluster = db.session.scalar(select(Cluster).where(Cluster.id == s.cluster_id).with_for_update())
        if not late and cluster is not None and not cluster.deleted_id:
            apply_sizes(cluster, s.desired, s.min_size, s.max_size)
            log.info("schedule %s (%s) on cluster %s: desired=%s min=%s max=%s", s.id, s.name, cluster.id,
                     cluster.desired, cluster.min_size, cluster.max_size)
        db.session.commit()
        fired.append({"schedule_id": s.id, "slot": slot.isoformat(), "result": result})
    return fired

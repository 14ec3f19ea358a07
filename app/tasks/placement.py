"""Capacity failover for expand tasks: where each batch is created, and what happens when the
cloud answers out of stock.

A cluster's placements, in order of preference: its own (zone, subnet, instance type), then the
`fallbacks` of its elastic policy. With spot enabled (every driver asks its cloud for spot machines)
every placement is tried as spot first, then — unless on_demand_fallback is off — every one on demand.

The insufficient-capacity cache: a (account, region, zone, type, spot) that answered
OutOfCapacity is remembered for BRIDGX_CAPACITY_CACHE_SECONDS; new batches start at the first
placement not in it (a capacity-cache hit).

Exactly once: when a batch fails with OutOfCapacity, or the cloud creates fewer machines than
asked, a new batch row for the remainder, with the next placement and its own client token, is
written in the same commit that closes the failed batch. A crash at any point either leaves the
failed batch to be retried as it was, or the remainder row to be created (once, by its token).
Quota errors are account-wide in every supported cloud: they still stop the task.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from app.clusters.models import Cluster
from app.core.db import utcnow
from app.elastic.metrics import CAPACITY_CACHE_HITS, CAPACITY_FALLBACKS
from app.elastic.models import CapacityShortage
from app.elastic.policy import settings
from app.extensions import db
from app.instances.models import PENDING, RUNNING, Instance
from app.providers import base
from app.tasks.models import TaskBatch

log = logging.getLogger(__name__)


def candidates(cluster: Cluster) -> list[dict]:
    rules = settings(cluster)
    own = {"zone_id": cluster.zone_id, "subnet_id": cluster.network_config["subnet_id"],
           "instance_type": cluster.instance_type}
    places = [own] + [dict(p) for p in rules["fallbacks"]]
    spot = rules["spot"]
    if spot["enabled"]:
        spots = [dict(p, spot=True, price_limit=spot["price_limit"]) for p in places]
        return spots + ([dict(p, spot=False) for p in places] if spot["on_demand_fallback"] else [])
    return [dict(p, spot=False) for p in places]


def _key(p: dict) -> tuple:
    return p["zone_id"], p["instance_type"], bool(p.get("spot"))


def _short(cluster: Cluster) -> set:
    rows = db.session.execute(select(CapacityShortage.zone_id, CapacityShortage.instance_type, CapacityShortage.spot)
                              .where(CapacityShortage.account_id == cluster.account_id,
                                     CapacityShortage.region_id == cluster.region_id,
                                     CapacityShortage.until > utcnow())).all()
    return {(r.zone_id, r.instance_type, bool(r.spot)) for r in rows}


def first(cluster: Cluster) -> dict:
    """Where a new task's batches start: the first placement the cache does not know short."""
    places, short = candidates(cluster), _short(cluster)
    for p in places:
        if _key(p) not in short:
            if p is not places[0]:
                CAPACITY_CACHE_HITS.labels(cluster.provider).inc()
            return p
    return places[0]  # everything is short: try the preferred one again


def plan(cluster: Cluster, count: int, max_create: int) -> list[tuple[int, dict]]:
    """The batches of a new expand: (size, placement). By default every batch starts at `first`;
    with `balance_zones`, the count is split over the zones of the placements (each zone's first
    placement not known short) so that live machines per zone end up as even as possible."""
    start = first(cluster)
    if not settings(cluster).get("balance_zones"):
        return [(min(max_create, count - s), start) for s in range(0, count, max_create)]
    short, per_zone = _short(cluster), {}
    for p in candidates(cluster):
        if p["zone_id"] not in per_zone and (_key(p) not in short or p is start):
            per_zone[p["zone_id"]] = p
    live = dict(db.session.execute(select(Instance.zone_id, func.count()).where(
        Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, RUNNING))).group_by(Instance.zone_id)).all())
    share = {z: 0 for z in per_zone}
    for _ in range(count):  # water-filling, one machine at a time (counts are at most 50,000)
        zone = min(share, key=lambda z: (live.get(z, 0) + share[z], list(per_zone).index(z)))
        share[zone] += 1
    return [(min(max_create, n - s), per_zone[z]) for z, n in share.items() for s in range(0, n, max_create)]


def spec(base_spec: base.InstanceSpec, place: dict | None) -> base.InstanceSpec:
    if not place:
        return base_spec
    return dataclasses.replace(base_spec, zone_id=place["zone_id"], subnet_id=place["subnet_id"],
                               instance_type=place["instance_type"], spot=bool(place.get("spot")),
                               spot_price_limit=place.get("price_limit"))


def remember_short(cluster: Cluster, place: dict, reason: str) -> None:
    until = utcnow() + timedelta(seconds=current_app.config["CAPACITY_CACHE_SECONDS"])
    zone, itype, spot = _key(place)
    row = db.session.scalar(select(CapacityShortage).where(
        CapacityShortage.account_id == cluster.account_id, CapacityShortage.region_id == cluster.region_id,
        CapacityShortage.zone_id == zone, CapacityShortage.instance_type == itype, CapacityShortage.spot == spot))
    if row is None:
        db.session.add(CapacityShortage(account_id=cluster.account_id, region_id=cluster.region_id, zone_id=zone,
                                        instance_type=itype, spot=spot, until=until, reason=reason[:255]))
    else:
        row.until, row.reason = until, reason[:255]


def fall_back(cluster: Cluster, batch: TaskBatch, remaining: int, reason: str, prefix: str) -> TaskBatch | None:
    """Mark the batch's placement short and add a batch for `remaining` at the next placement
    (not committed: the caller commits it with the failed batch). None when nothing is left."""
    places = candidates(cluster)
    current = batch.placement or places[0]
    remember_short(cluster, current, reason)
    keys = [_key(p) for p in places]
    at = keys.index(_key(current)) if _key(current) in keys else -1
    short = _short(cluster) | {_key(current)}
    nxt = next((p for p in places[at + 1:] if _key(p) not in short), None)
    if nxt is None:
        return None
    idx = db.session.scalar(select(func.max(TaskBatch.idx)).where(TaskBatch.task_id == batch.task_id)) + 1
    row = TaskBatch(task_id=batch.task_id, idx=idx, count=remaining, client_token=f"{prefix}-{idx}", state="CREATING",
                    placement=nxt, error="")
    db.session.add(row)
    CAPACITY_FALLBACKS.labels(cluster.provider).inc()
    log.warning("task %s batch %s: %s; %d machines move to %s/%s%s", batch.task_id, batch.idx, reason, remaining,
                nxt["zone_id"], nxt["instance_type"], " (spot)" if nxt.get("spot") else "")
    return row

"""An elastic cluster's policy (defaults filled in) and which machines a shrink takes."""
from __future__ import annotations

from collections import Counter

from flask import current_app
from sqlalchemy import select

from app.clusters.models import Cluster
from app.extensions import db
from app.instances.models import PENDING, RUNNING, Instance

TERMINATION_POLICIES = ("newest", "oldest", "zone")
DEFAULTS = {
    "termination_policy": "newest",
    "grace_seconds": 120,  # a machine younger than this is never judged dead
    "unready_seconds": None,  # None: BRIDGX_SCALE_READY_TIMEOUT
    "max_replacements": 100,  # at most this many machines found dead ...
    "replacement_window_seconds": 600,  # ... per this many seconds, per cluster
    "fallbacks": [],  # [{"zone_id", "subnet_id", "instance_type"}] in order of preference
    "balance_zones": False,  # split expands over the placements' zones, evening out live machines
    "spot": {"enabled": False, "price_limit": None, "on_demand_fallback": True},
}


def settings(cluster: Cluster) -> dict:
    out = dict(DEFAULTS)
    out.update(cluster.elastic or {})
    out["spot"] = dict(DEFAULTS["spot"], **((cluster.elastic or {}).get("spot") or {}))
    if out["unready_seconds"] is None:
        out["unready_seconds"] = current_app.config["SCALE_READY_TIMEOUT"]
    return out


def pick_victims(cluster: Cluster, count: int) -> list[Instance]:
    """`count` live, unprotected machines: not-yet-running first, then by the termination policy.

    newest: the most recently created first (ties: higher id first); oldest: the reverse;
    zone: one at a time from the zone with the most live machines (protected ones count there
    too), newest first within the zone, which leaves the zones balanced.
    """
    rows = db.session.scalars(select(Instance).where(
        Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, RUNNING)))).all()
    candidates = [r for r in rows if not r.protected]
    newest = sorted(candidates, key=lambda r: (r.created_at, r.id), reverse=True)
    pending = [r for r in newest if r.status == PENDING]
    running = [r for r in newest if r.status != PENDING]
    policy = settings(cluster)["termination_policy"]
    if policy == "oldest":
        running.reverse()
    elif policy == "zone":
        per_zone = Counter(r.zone_id for r in rows)
        for r in pending:
            per_zone[r.zone_id] -= 1
        queues: dict[str, list] = {}
        for r in running:
            queues.setdefault(r.zone_id, []).append(r)
        ordered = []
        while len(ordered) < count - len(pending) and any(queues.values()):
            zone = max((z for z in queues if queues[z]), key=lambda z: (per_zone[z], z))
            ordered.append(queues[zone].pop(0))
            per_zone[zone] -= 1
        running = ordered
    return (pending + running)[:count]

"""The elastic controller: one pass, run by Celery beat every BRIDGX_ELASTIC_CONTROLLER_SECONDS.

One holder at a time across every worker and beat process: a pass first takes the
`elastic_leases` row "controller" with a conditional UPDATE (free, lapsed, or already ours) and
renews it before each cluster; a pass that finds it held by someone live does nothing.

Crash safety comes from the engine's own rules, not from the lease: the controller changes
machines only by creating ordinary expand/shrink tasks (one unfinished task per cluster, enforced
by a unique index) and decides how many from the database *inside the same transaction* that
creates the task. A pass killed at any point leaves either no task or one durable task that the
resumer finishes; the next pass sees that task (busy) or its machines (counted), so it can never
add the same machines twice.

Per elastic cluster (desired not NULL) with no unfinished task:
1. fire due schedules (schedules.py), which may move desired/min/max;
2. self-healing: describe (by id, in parallel chunks) every machine the database holds live and
   older than the grace period, and judge it: gone from the cloud (deleted, or spot
   reclaimed) → recorded and marked Deleted; stopped, or pending past the ready timeout →
   recorded and deleted by a shrink task. Nothing is judged on one answer: a dead machine is
   acted on when a pass at least half a controller interval after its first sighting sees it dead
   again (evidence kept in `reconcile_marks`, so it survives a restart; a describe that fails, or
   that the cloud refuses, is no sighting either way). At most `max_replacements` per
   `replacement_window_seconds`; the rest wait (logged) — a cloud glitch listing nothing must not
   replace a whole cluster at once;
3. close the gap: live < desired → expand (never above max); live > desired → shrink by the
   termination policy (protected machines never chosen).
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.clusters.models import CUSTOM, Cluster
from app.core.db import update_rows, utcnow
from app.core.errors import AppError
from app.elastic import policy, schedules
from app.elastic.metrics import REPLACEMENTS
from app.elastic.models import ElasticLease, MachineReplacement
from app.extensions import db
from app.instances.models import DELETED, PENDING, RUNNING, Instance, last_alive_at
from app.providers import base
from app.tasks import evidence, service as tasks
from app.tasks.engine import provider_for
from app.tasks.models import FAILED, Task

log = logging.getLogger(__name__)
LEASE = "controller"
DESCRIBERS = 4  # describe calls in flight while judging one cluster
DEAD = "dead"  # self-healing's kind of evidence in reconcile_marks (the reconciler keeps its own)


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def take_lease(holder: str, now: datetime | None = None, name: str = LEASE) -> bool:
    """Take or renew the lease; False while another live holder has it."""
    now = now or utcnow()
    until = now + timedelta(seconds=current_app.config["ELASTIC_LEASE_SECONDS"])
    result = db.session.execute(update(ElasticLease).where(
        ElasticLease.name == name,
        or_(ElasticLease.holder.is_(None), ElasticLease.holder == holder, ElasticLease.expires_at < now))
        .values(holder=holder, expires_at=until))
    db.session.commit()
    if result.rowcount == 1:
        return True
    if db.session.get(ElasticLease, name) is not None:
        return False
    try:
        db.session.execute(insert(ElasticLease).values(name=name, holder=holder, expires_at=until))
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        return False


def release_lease(holder: str, name: str = LEASE) -> None:
    db.session.execute(update(ElasticLease).where(ElasticLease.name == name, ElasticLease.holder == holder)
                       .values(holder=None, expires_at=None))
    db.session.commit()


def run_pass(now: datetime | None = None, holder: str | None = None) -> dict:
    """One controller pass over every elastic cluster; what it did, for logs and tests."""
    holder = holder or new_holder()
    if not take_lease(holder, now):
        return {"lease": "held elsewhere"}
    out: dict = {"lease": holder, "schedules": [], "clusters": {}}
    try:
        out["schedules"] = schedules.fire_due(now)
        ids = db.session.scalars(select(Cluster.id).where(Cluster.deleted_id == 0, Cluster.desired.is_not(None),
                                                          Cluster.cluster_type != CUSTOM)
                                 .order_by(Cluster.id)).all()
        for cluster_id in ids:
            if not take_lease(holder):
                log.warning("elastic controller lost its lease; stopping this pass")
                break
            try:
                out["clusters"][cluster_id] = control(cluster_id, now)
            except base.CloudError as exc:
                db.session.rollback()
                log.warning("elastic cluster %s skipped this pass: %s", cluster_id, exc)
                out["clusters"][cluster_id] = f"cloud error: {exc}"
            except AppError as exc:  # e.g. the organisation's quota: the task would be refused
                db.session.rollback()
                log.warning("elastic cluster %s skipped this pass: %s %s", cluster_id, exc.msg, exc.detail)
                out["clusters"][cluster_id] = f"{exc.msg}: {exc.detail}"
            except Exception as exc:  # noqa: BLE001 - one cluster never stops the pass (never counts as gone)
                db.session.rollback()
                log.error("elastic cluster %s skipped this pass: %s: %s", cluster_id, type(exc).__name__,
                          str(exc)[:300], exc_info=True)
                out["clusters"][cluster_id] = f"failed: {type(exc).__name__}"
    finally:
        db.session.rollback()
        release_lease(holder)
    return out


def control(cluster_id: int, now: datetime | None = None) -> str:
    now = now or utcnow()
    cluster = db.session.get(Cluster, cluster_id)
    db.session.refresh(cluster)
    if cluster.desired is None or tasks.unfinished_task_of(cluster_id):
        return "busy" if cluster.desired is not None else "not elastic"
    doomed = heal(cluster, now)
    if doomed:
        ids = {r.id for r in doomed}
        task_id = tasks.system_shrink(cluster_id, "elastic-heal", lambda c, live: [
            r for r in db.session.scalars(select(Instance).where(Instance.id.in_(ids),
                                                                 Instance.status.in_((PENDING, RUNNING))))])
        return f"heal shrink task {task_id}" if task_id else "busy"
    if _backing_off(cluster_id, now):
        return "backing off after a failed task"
    live = tasks.live_now(cluster_id)
    if live < cluster.desired:
        task_id = tasks.system_expand(cluster_id, "elastic-expand", lambda c, n: (c.desired or 0) - n)
        return f"expand task {task_id}" if task_id else "busy"
    if live > cluster.desired:
        task_id = tasks.system_shrink(cluster_id, "elastic-shrink",
                                      lambda c, n: policy.pick_victims(c, n - c.desired) if n > c.desired else [])
        return f"shrink task {task_id}" if task_id else "busy"
    return "at desired"


def _backing_off(cluster_id: int, now: datetime) -> bool:
    """A controller task that failed outright is not retried for BRIDGX_ELASTIC_RETRY_SECONDS."""
    last = db.session.scalar(select(Task).where(Task.cluster_id == cluster_id, Task.create_by == "elastic-controller")
                             .order_by(Task.id.desc()).limit(1))
    wait = timedelta(seconds=current_app.config["ELASTIC_RETRY_SECONDS"])
    return bool(last and last.status == FAILED and last.finished_at and last.finished_at > now - wait)


def _describe(provider: base.Provider, ids: list[str]) -> list[base.Instance]:
    """The machines by id, in parallel chunks (the rate limiter paces them): a 1,000-machine
    cluster is judged from one near-instant snapshot rather than a slow paged listing."""
    chunks = base.chunks(ids, provider.limits.max_describe_ids)
    with ThreadPoolExecutor(DESCRIBERS, thread_name_prefix="heal-describe") as pool:
        return [i for part in pool.map(provider.describe_instances, chunks) for i in part]


def heal(cluster: Cluster, now: datetime) -> list[Instance]:
    """Judge the cluster's live machines against the cloud. A machine is dead on the second sighting
    (module docstring); then it is recorded, and marked Deleted here if gone from the cloud, or
    returned to be deleted if stopped or never ready. A describe that fails raises: no sighting."""
    rules = policy.settings(cluster)
    rows = db.session.scalars(select(Instance).where(Instance.cluster_id == cluster.id,
                                                     Instance.status.in_((PENDING, RUNNING)))).all()
    grace = now - timedelta(seconds=rules["grace_seconds"])
    old = [r for r in rows if r.created_at < grace]
    in_cloud = {i.instance_id: i for i in _describe(provider_for(cluster), [r.instance_id for r in old])} \
        if old else {}
    unready = now - timedelta(seconds=rules["unready_seconds"])
    dead: list[tuple[Instance, str, str]] = []
    for r in old:
        seen = in_cloud.get(r.instance_id)
        if seen is None or seen.status == base.DELETED:
            dead.append((r, "vanished", "no longer in the cloud (deleted, reclaimed or lost)"))
        elif seen.status == base.STOPPED:
            dead.append((r, "stopped", "stopped in the cloud"))
        elif seen.status == base.PENDING and r.created_at < unready:
            dead.append((r, "unready", f"not running {rules['unready_seconds']:g}s after creation"))
    # seen alive now: a machine that vanishes later is billed until here (as the reconciler does)
    alive = [r.id for r in old if in_cloud.get(r.instance_id) is not None
             and in_cloud[r.instance_id].status != base.DELETED]
    for chunk in base.chunks(alive, 500):
        db.session.execute(update(Instance).where(Instance.id.in_(chunk)).values(last_seen_at=now))
    gap = timedelta(seconds=current_app.config["ELASTIC_CONTROLLER_SECONDS"] / 2)
    fresh, _, confirmed = evidence.sight(cluster.id, (DEAD,), {(DEAD, r.instance_id) for r, _, _ in dead},
                                         now, now - gap)  # commits
    if fresh:
        new = set(fresh)
        log.warning("cluster %s (org %s): first sighting of %d dead machines (%s); replaced if a pass %gs or more "
                    "later sees the same", cluster.id, cluster.org_id, len(new),
                    _reasons(d for d in dead if (DEAD, d[0].instance_id) in new), gap.total_seconds())
    dead = [d for d in dead if (DEAD, d[0].instance_id) in confirmed]
    if not dead:
        return []
    window = now - timedelta(seconds=rules["replacement_window_seconds"])
    used = db.session.scalar(select(func.count()).select_from(MachineReplacement).where(
        MachineReplacement.cluster_id == cluster.id, MachineReplacement.detected_at > window))
    allowed = max(0, rules["max_replacements"] - used)
    if len(dead) > allowed:
        log.warning("cluster %s: %d machines look dead but only %d replacements are allowed in %ss; "
                    "the rest wait", cluster.id, len(dead), allowed, rules["replacement_window_seconds"])
        dead = dead[:allowed]
    if not dead:
        return []
    db.session.execute(insert(MachineReplacement), [
        {"org_id": cluster.org_id, "cluster_id": cluster.id, "instance_id": r.instance_id, "reason": reason,
         "detail": detail, "detected_at": now} for r, reason, detail in dead])
    evidence.forget(cluster.id, (DEAD,), [r.instance_id for r, _, _ in dead])
    gone = [r for r, reason, _ in dead if reason == "vanished"]
    if gone:  # billed until last seen running, not until this pass (the reconciler's rule)
        update_rows(Instance, [
            {"id": r.id, "status": DELETED,
             "deleted_at": last_alive_at(r)}
            for r in gone])
    db.session.commit()
    for _, reason, _ in dead:
        REPLACEMENTS.labels(cluster.provider, reason).inc()
    log.warning("cluster %s (org %s): %d dead machines, seen in two passes, recorded for replacement (%s)",
                cluster.id, cluster.org_id, len(dead), _reasons(dead))
    return [r for r, reason, _ in dead if reason != "vanished"]


def _reasons(dead) -> str:
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(Counter(reason for _, reason, _ in dead).items()))

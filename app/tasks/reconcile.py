"""The reconciler: what the cloud says (by our cluster tag) against what the database says.

Rules (the README's "Reconciler rules" section says the same):
- A cluster is left alone while it has an unfinished task. The lock is read after the cloud was
  listed and again right before every action (never a snapshot taken at the start of the pass),
  and a machine tagged with an unfinished task is never touched.
- Every (database, cloud) pair has a rule:
    no row      / alive      → unknown: recorded and deleted (its task finished without it);
                               an id another cluster's row owns is logged and skipped
    Pending     / running    → the row is fixed: Running, with its addresses
    Pending, Running / alive → last_seen_at = now
    Deleting, Deleted, Failed / alive → zombie: deleted again
    Pending, Running, Deleting / gone → marked Deleted, ending at the last time the cloud was
                               seen running it (last_seen_at), not at the pass that noticed
    Deleted, Failed / gone   → nothing
  Batches of finished tasks still PENDING or CREATING are closed from the rows.
- Destructive decisions (delete a machine, mark a row deleted) need two observations: the first
  pass writes a mark (table reconcile_marks, so the evidence survives a restart), a later pass
  that sees the same thing acts. A mark no longer observed is dropped (evidence.py, shared with
  self-healing).
- One cluster's failure (a cloud error, a database conflict) is logged and the pass goes on.
- Every action is logged at WARNING with the cluster, its organisation, the tasks and the counts.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select, update

from app.clusters.models import STANDARD, Cluster
from app.core.db import update_rows, utcnow
from app.extensions import db
from app.instances.models import DELETED, DELETING, LIVE, PENDING, RUNNING, Instance, last_alive_at
from app.providers import base
from app.tasks.engine import cluster_tag, provider_for
from app.tasks import evidence
from app.tasks.models import Task, TaskBatch

log = logging.getLogger(__name__)
GRACE = timedelta(seconds=60)  # a just-created machine may not be listed by tag yet
UNKNOWN, ZOMBIE, GONE = "unknown", "zombie", "gone"
KINDS = (UNKNOWN, ZOMBIE, GONE)  # this pass's evidence in reconcile_marks (self-healing keeps its own)
TOTALS = ("recorded", "deleted", "marked_gone", "fixed", "awaiting", "skipped", "failed")


def reconcile_all() -> dict:
    """One pass over every live cluster of every organisation (custom clusters hold no cloud machines of ours)."""
    totals = dict.fromkeys(TOTALS, 0)
    started = utcnow()
    ids = list(db.session.scalars(select(Cluster.id).where(Cluster.deleted_id == 0, Cluster.cluster_type == STANDARD)
                                  .order_by(Cluster.id)))
    db.session.commit()
    for cluster_id in ids:
        try:
            cluster = db.session.get(Cluster, cluster_id)
            if cluster is None or cluster.deleted_id:
                continue
            result = reconcile_cluster(cluster, started)
        except Exception as exc:  # noqa: BLE001 - one cluster never stops the pass
            db.session.rollback()
            totals["failed"] += 1
            log.warning("reconciler: cluster %s skipped this pass: %s: %s", cluster_id, type(exc).__name__,
                        str(exc)[:300], exc_info=not isinstance(exc, base.CloudError))
            continue
        for key, n in result.items():
            totals[key] += n
    return totals


def _holder_task(cluster_id: int) -> int | None:
    """The unfinished task of the cluster, read in a fresh transaction (not a snapshot)."""
    db.session.commit()
    return db.session.scalar(select(Task.id).where(Task.lock_cluster_id == cluster_id))


def _task_of(inst: base.Instance) -> int | None:
    tag = (inst.tags or {}).get(base.TAG_TASK) or ""
    _, sep, number = tag.rpartition("-t")
    return int(number) if sep and number.isdigit() else None


def _batch_of(inst: base.Instance) -> int | None:
    value = (inst.tags or {}).get(base.TAG_BATCH) or ""
    return int(value) if value.isdigit() else None


def _naive(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def _by_task(ids, cloud: dict) -> str:
    counts = Counter(_task_of(cloud[i]) if i in cloud else None for i in ids)
    return ", ".join(f"task {t}: {n}" if t else f"no task tag: {n}" for t, n in sorted(counts.items(), key=str))


def created_at(inst: base.Instance, lower: datetime | None, upper: datetime | None) -> datetime:
    """The cloud's creation time made precise: a cloud that writes whole minutes (Alibaba) or
    seconds says only that the machine was made in [t, t + 60 s) or [t, t + 1 s). The batch's
    request time, when it falls in that window, is the estimate (the cloud accepts within a round
    trip of it); otherwise the middle of the window cut by the reply or our first sighting."""
    ct = _naive(inst.created_at)
    if ct is None:
        return lower or upper or utcnow()
    width = timedelta(seconds=60) if ct.second == 0 and ct.microsecond == 0 else \
        timedelta(seconds=1) if ct.microsecond == 0 else timedelta(0)
    lo = max(ct, lower) if lower else ct
    hi = min(ct + width, upper) if upper else ct + width
    if lo > hi:  # clocks disagree: trust the cloud
        return ct
    if lower and lower >= ct:  # the request time: the cloud accepts within a round trip of it
        return lo
    return lo + (hi - lo) / 2


def reconcile_cluster(cluster: Cluster, started: datetime | None = None) -> dict:
    started = started or utcnow()
    out = dict.fromkeys(TOTALS, 0)
    cid, org = cluster.id, cluster.org_id
    provider = provider_for(cluster)
    listed = provider.describe_instances_by_tags({base.TAG_CLUSTER: cluster_tag(cluster.id)})
    now = utcnow()
    if _holder_task(cid):
        out["skipped"] = 1
        return out
    where = f"cluster {cid} (org {org})"
    in_cloud = {i.instance_id: i for i in listed if i.status != base.DELETED}
    rows = {r.instance_id: r for r in db.session.scalars(select(Instance).where(
        Instance.provider == cluster.provider, Instance.cluster_id == cid))}
    unfinished = set(db.session.scalars(select(Task.id).where(Task.lock_cluster_id.is_not(None))))
    protected = {i for i, inst in in_cloud.items() if _task_of(inst) in unfinished}
    if protected:
        log.warning("reconciler: %s: %d machines belong to unfinished tasks and are left alone (%s)",
                    where, len(protected), _by_task(protected, in_cloud))

    # ---------------------------------------------------------------- non-destructive fixes
    seen = [r.id for i, r in rows.items() if r.status in (PENDING, RUNNING) and i in in_cloud
            and in_cloud[i].status == base.RUNNING]
    fix = [(r, in_cloud[i]) for i, r in rows.items() if r.status == PENDING and i in in_cloud
           and in_cloud[i].status == base.RUNNING and in_cloud[i].ip_inner and i not in protected]
    for chunk in base.chunks(seen, 500):
        db.session.execute(update(Instance).where(Instance.id.in_(chunk)).values(last_seen_at=now))
    if fix:
        update_rows(Instance, [
            {"id": r.id, "status": RUNNING, "ip_inner": inst.ip_inner, "ip_outer": inst.ip_outer, "running_at": now}
            for r, inst in fix])
        log.warning("reconciler: %s: %d machines Pending in the database but running in the cloud marked Running "
                    "(%s)", where, len(fix), _by_task([r.instance_id for r, _ in fix], in_cloud))
        out["fixed"] = len(fix)
    db.session.commit()

    # ---------------------------------------------------------------- evidence (two observations)
    unknown = [i for i in in_cloud if i not in rows and i not in protected]
    zombie = [i for i, r in rows.items() if i in in_cloud and r.status not in (PENDING, RUNNING) and i not in protected]
    gone = [i for i, r in rows.items() if i not in in_cloud and r.status in LIVE and r.created_at < now - GRACE]
    wanted = {(UNKNOWN, i) for i in unknown} | {(ZOMBIE, i) for i in zombie} | {(GONE, i) for i in gone}
    fresh, first_seen, confirmed = evidence.sight(cid, KINDS, wanted, now, started)
    out["awaiting"] = len(wanted) - len(confirmed)
    if fresh:
        log.warning("reconciler: %s: first sighting of %d unknown, %d zombie, %d gone machines (%s); acting if "
                    "the next pass sees the same", where, sum(k == UNKNOWN for k, _ in fresh),
                    sum(k == ZOMBIE for k, _ in fresh), sum(k == GONE for k, _ in fresh),
                    _by_task([i for k, i in fresh if k != GONE], in_cloud) or "no machine in the cloud")
    unknown = [i for i in unknown if (UNKNOWN, i) in confirmed]
    zombie = [i for i in zombie if (ZOMBIE, i) in confirmed]
    gone = [i for i in gone if (GONE, i) in confirmed]

    # ---------------------------------------------------------------- unknown machines: record, then delete
    if unknown:
        owned = dict(db.session.execute(select(Instance.instance_id, Instance.cluster_id).where(
            Instance.provider == cluster.provider, Instance.instance_id.in_(unknown))).all())
        if owned:
            log.warning("reconciler: %s: %d machines carry this cluster's tag but belong to other clusters' rows "
                        "(%s); skipped", where, len(owned),
                        ", ".join(f"{i} → cluster {c}" for i, c in sorted(owned.items())[:10]))
            unknown = [i for i in unknown if i not in owned]
    if unknown and _holder_task(cid):
        out["skipped"] = 1
        return out
    if unknown:
        tasks = tasks_in_db({t for t in (_task_of(in_cloud[i]) for i in unknown) if t})
        batches = {(b.task_id, b.idx): b for b in db.session.scalars(
            select(TaskBatch).where(TaskBatch.task_id.in_(tasks)))} if tasks else {}

        def bounds(inst):
            b = batches.get((_task_of(inst), _batch_of(inst)))
            upper = first_seen.get((UNKNOWN, inst.instance_id))
            if b is None:
                return None, upper
            lower = b.updated_at if b.state == "CREATING" else b.created_at
            if b.state in ("FAILED", "CREATED") and b.updated_at:
                upper = min(upper, b.updated_at) if upper else b.updated_at
            return lower, upper

        db.session.execute(insert(Instance), [
            {"org_id": org, "cluster_id": cid, "account_id": cluster.account_id, "instance_id": i,
             "task_id": _task_of(in_cloud[i]) if _task_of(in_cloud[i]) in tasks else None,
             "batch_idx": _batch_of(in_cloud[i]), "provider": cluster.provider, "region_id": cluster.region_id,
             "zone_id": in_cloud[i].zone_id or cluster.zone_id,
             "instance_type": in_cloud[i].instance_type or cluster.instance_type,
             "ip_inner": in_cloud[i].ip_inner, "ip_outer": in_cloud[i].ip_outer, "status": DELETING,
             "created_at": created_at(in_cloud[i], *bounds(in_cloud[i])), "last_seen_at": now} for i in unknown])
        db.session.commit()
        log.warning("reconciler: %s: deleting %d machines the database did not know, seen in two passes (%s)",
                    where, len(unknown), _by_task(unknown, in_cloud))
        out["recorded"] = len(unknown)
    doomed = unknown + zombie
    if zombie:
        if _holder_task(cid):
            out["skipped"] = 1
            return out
        log.warning("reconciler: %s: deleting %d machines the database holds as deleted but the cloud still runs, "
                    "seen in two passes (%s)", where, len(zombie), _by_task(zombie, in_cloud))
    for chunk in base.chunks(doomed, provider.limits.max_delete_ids):
        provider.delete_instances(chunk)
        db.session.execute(update(Instance).where(Instance.provider == cluster.provider, Instance.cluster_id == cid,
                                                  Instance.instance_id.in_(chunk))
                           .values(status=DELETED, deleted_at=utcnow()))
        evidence.forget(cid, KINDS, chunk)
        db.session.commit()
    out["deleted"] = len(doomed)

    # ---------------------------------------------------------------- rows whose machine is gone
    if gone and not _holder_task(cid):
        gone_rows = [rows[i] for i in gone]
        update_rows(Instance, [
            {"id": r.id, "status": DELETED,
             "deleted_at": last_alive_at(r)}
            for r in gone_rows])
        evidence.forget(cid, (GONE,), gone)
        db.session.commit()
        tasks = Counter(r.task_id for r in gone_rows)
        log.warning("reconciler: %s: %d machines gone from the cloud (seen in two passes) marked deleted as of "
                    "their last sighting (%s)", where, len(gone_rows),
                    ", ".join(f"task {t}: {n}" if t else f"no task: {n}" for t, n in sorted(tasks.items(), key=str)))
        out["marked_gone"] = len(gone_rows)

    out["fixed"] += close_stuck_batches(cluster)
    return out


def tasks_in_db(ids: set) -> set:
    return set(db.session.scalars(select(Task.id).where(Task.id.in_(ids)))) if ids else set()


def close_stuck_batches(cluster: Cluster) -> int:
    """Batches of finished tasks still PENDING or CREATING (their task ended while the call was in
    flight) are closed from what the database holds for them."""
    stuck = db.session.scalars(select(TaskBatch).join(Task, Task.id == TaskBatch.task_id).where(
        Task.cluster_id == cluster.id, Task.lock_cluster_id.is_(None),
        TaskBatch.state.in_(("PENDING", "CREATING")))).all()
    for b in stuck:
        ids = list(db.session.scalars(select(Instance.instance_id).where(
            Instance.task_id == b.task_id, Instance.batch_idx == b.idx).order_by(Instance.id)))
        live = db.session.scalar(select(Instance.id).where(Instance.task_id == b.task_id, Instance.batch_idx == b.idx,
                                                           Instance.status.in_(LIVE)).limit(1))
        b.instance_ids = ids
        b.state = "CREATED" if live else "FAILED"
        b.error = b.error or ("the task ended before this batch was answered; the reconciler closed it with "
                              f"{len(ids)} machines recorded")
        log.warning("reconciler: cluster %s (org %s): task %s batch %s was left %s by its finished task; closed as %s "
                    "with %d machines", cluster.id, cluster.org_id, b.task_id, b.idx, "in flight", b.state, len(ids))
    if stuck:
        db.session.commit()
    return len(stuck)

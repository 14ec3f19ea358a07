"""The scaling engine: runs one expand or shrink task to its end, safely more than once.

Promises (see the README's design section):
- Every batch is a durable row written before its cloud call; its client token is derived from
  (deployment, task, batch), so a replay after a crash returns the same machines.
- A worker claims a task atomically and heart-beats; a task whose holder stopped beating can be
  claimed again and resumes from its rows. A second delivery of the same message finds the task
  held (or finished) and does nothing.
- Cloud calls run in worker threads that never touch the database; the engine's own thread
  writes results in bulk.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, insert, or_, select, update

from app.accounts.models import CloudAccount
from app.clusters.models import Cluster
from app.core.crypto import decrypt
from app.core.db import utcnow
from app.extensions import db
from app.metrics.collectors import MACHINES_CREATED, MACHINES_DELETED
from app.instances.models import DELETED, DELETING, FAILED as I_FAILED, LIVE, PENDING, RUNNING, Instance
from app.providers import base, registry
from app.tasks import placement
from app.tasks.models import (EXPAND, FAILED, FINISHED, PARTIAL_SUCCESS, RUNNING as T_RUNNING, SUCCESS, Task,
                              TaskBatch)
from app.tasks.readiness import Readiness

log = logging.getLogger(__name__)
STOPPING = (base.OutOfCapacity, base.QuotaExceeded, base.AuthFailed, base.InvalidRequest)
POLLERS = 4  # describe calls in flight at once; keeps the describe budget from piling up


class LostOwnership(Exception):
    """Another worker took the task over (this one was presumed dead)."""


def install_id() -> str:
    """Short, stable per deployment: keeps client tokens and tags unique across deployments."""
    return hashlib.sha256(current_app.config["SECRET_KEY"].encode()).hexdigest()[:8]


def cluster_tag(cluster_id: int) -> str:
    return f"{install_id()}-c{cluster_id}"


def task_tag(task_id: int) -> str:
    return f"{install_id()}-t{task_id}"


def provider_for(cluster: Cluster) -> base.Provider:
    account = db.session.get(CloudAccount, cluster.account_id)
    return registry.get_provider(cluster.provider, account.credentials(), cluster.region_id)


def spec_for(cluster: Cluster) -> base.InstanceSpec:
    net, disks, charge = cluster.network_config, cluster.disks, cluster.charge_config
    return base.InstanceSpec(
        zone_id=cluster.zone_id, instance_type=cluster.instance_type, image_id=cluster.image,
        vpc_id=net["vpc"], subnet_id=net["subnet_id"], security_group_id=net["security_group"],
        password=decrypt(cluster.password_encrypted) if cluster.password_encrypted else None,
        system_disk=base.Disk(**disks["system_disk"]),
        data_disks=[base.Disk(**d) for d in disks.get("data_disk") or []],
        charge_type=charge.get("charge_type", "PostPaid"), period_unit=charge.get("period_unit"),
        period=charge.get("period"), internet_charge_type=net.get("internet_charge_type"),
        internet_max_bandwidth_out=net.get("internet_max_bandwidth_out") or 0, name_prefix=f"bridgx-{cluster.id}")


def _epoch(dt: datetime) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp()


def _naive(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


# ---------------------------------------------------------------- claim and heartbeat
def claim(task_id: int, holder: str) -> bool:
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["SCALE_STALE_SECONDS"])
    result = db.session.execute(
        update(Task).where(Task.id == task_id, Task.lock_cluster_id.is_not(None),
                           or_(Task.holder.is_(None), Task.heartbeat_at < stale))
        .values(holder=holder, heartbeat_at=now, status=T_RUNNING, runs=Task.runs + 1,
                started_at=func.coalesce(Task.started_at, now)))
    db.session.commit()
    return result.rowcount == 1


class Heartbeat(threading.Thread):
    def __init__(self, app, task_id: int, holder: str):
        super().__init__(daemon=True, name=f"heartbeat-{task_id}")
        self.app, self.task_id, self.holder = app, task_id, holder
        self.done, self.lost = threading.Event(), threading.Event()

    def run(self):
        interval = self.app.config["SCALE_HEARTBEAT_SECONDS"]
        with self.app.app_context():
            while not self.done.wait(interval):
                try:
                    result = db.session.execute(update(Task).where(Task.id == self.task_id, Task.holder == self.holder)
                                                .values(heartbeat_at=utcnow()))
                    db.session.commit()
                    if result.rowcount == 0:
                        self.lost.set()
                        return
                except Exception:  # noqa: BLE001 - a missed beat is retried next round
                    db.session.rollback()
                    log.warning("heartbeat for task %s failed", self.task_id, exc_info=True)
            db.session.remove()


def run(task_id: int) -> str:
    """Run (or resume) a task; returns what happened, for logs and tests."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    if not claim(task_id, holder):
        return "not-claimed"
    beat = Heartbeat(current_app._get_current_object(), task_id, holder)
    beat.start()
    try:
        task = db.session.get(Task, task_id)
        runner = (Expander if task.action == EXPAND else Shrinker)(task, beat)
        runner.run()
        return "finished"
    except LostOwnership:
        log.warning("task %s was taken over by another worker", task_id)
        return "lost"
    except Exception as exc:
        log.exception("task %s failed", task_id)
        db.session.rollback()
        _finish(db.session.get(Task, task_id), f"internal error: {type(exc).__name__}")
        return "error"
    finally:
        beat.done.set()


def _finish(task: Task, reason: str = "") -> None:
    """Close a task: counts from the rows, status from the counts, lock released."""
    if task.action == EXPAND:
        success = db.session.scalar(select(func.count()).where(Instance.task_id == task.id, Instance.status == RUNNING))
    else:
        success = db.session.scalar(select(func.count()).where(Instance.delete_task_id == task.id,
                                                               Instance.status == DELETED))
    task.success_num, task.fail_num = success, task.count - success
    task.status = SUCCESS if success == task.count else PARTIAL_SUCCESS if success else FAILED
    task.fail_reason = reason if task.status != SUCCESS else ""
    task.after_count = db.session.scalar(select(func.count()).where(Instance.cluster_id == task.cluster_id,
                                                                    Instance.status.in_(LIVE)))
    task.finished_at = utcnow()
    task.lock_cluster_id = None
    db.session.commit()
    log.info("task %s %s: %s of %s %s", task.id, task.status, success, task.count, reason)


class _Runner:
    def __init__(self, task: Task, beat: Heartbeat):
        self.task, self.beat = task, beat
        self.cluster = db.session.get(Cluster, task.cluster_id)
        self.provider = provider_for(self.cluster)
        self.limits = self.provider.limits
        self.errors: list[str] = []
        self.last_progress = 0.0
        self.ambiguous = False  # a create failed in a way that may still have made machines

    def check_owner(self):
        if self.beat.lost.is_set():
            raise LostOwnership()

    def note_error(self, message: str):
        if message not in self.errors:
            self.errors.append(message)

    def batches(self, plan) -> list[TaskBatch]:
        """The task's batch rows, written on first run (before any cloud call)."""
        rows = db.session.scalars(select(TaskBatch).where(TaskBatch.task_id == self.task.id)
                                  .order_by(TaskBatch.idx)).all()
        if not rows:
            prefix = f"bx-{install_id()}-{self.task.id}"
            db.session.execute(insert(TaskBatch), [
                {"task_id": self.task.id, "idx": i, "count": n, "client_token": f"{prefix}-{i}", "state": "PENDING",
                 "instance_ids": ids, "placement": place[0] if place else None}
                for i, (n, ids, *place) in enumerate(plan())])
            db.session.commit()
            rows = db.session.scalars(select(TaskBatch).where(TaskBatch.task_id == self.task.id)
                                      .order_by(TaskBatch.idx)).all()
        return rows

    def progress(self, force: bool = False):
        """Publish counts for task/describe at most twice a second."""
        now = time.monotonic()
        if not force and now - self.last_progress < 0.5:
            return
        self.last_progress = now
        if self.task.action == EXPAND:
            done = select(func.count()).where(Instance.task_id == self.task.id, Instance.status == RUNNING)
            failed = select(func.count()).where(Instance.task_id == self.task.id, Instance.status == I_FAILED)
        else:
            done = select(func.count()).where(Instance.delete_task_id == self.task.id, Instance.status == DELETED)
            failed = None
        self.task.success_num = db.session.scalar(done)
        self.task.fail_num = db.session.scalar(failed) if failed is not None else 0
        db.session.commit()


class Expander(_Runner):
    def run(self):
        task, limits = self.task, self.limits
        tags = {base.TAG_CLUSTER: cluster_tag(self.cluster.id), base.TAG_TASK: task_tag(task.id)}
        spec = spec_for(self.cluster)
        need_outer = spec.internet_max_bandwidth_out > 0
        # capacity failover and zone balance (placement.py): each batch row carries its placement
        batches = self.batches(lambda: [(n, None, place)
                                        for n, place in placement.plan(self.cluster, task.count, limits.max_create)])
        by_idx = {b.idx: b for b in batches}
        self.places = {b.idx: b.placement for b in batches}
        for b in batches:  # what an earlier run of this task already learned
            if b.error and b.state not in ("PENDING", "CREATING"):
                self.note_error(f"batch {b.idx}: {b.error}")
        readiness = Readiness()
        self.row_ids: dict[str, int] = {}
        resumed: dict[int, tuple[list, float]] = {}
        for row in db.session.execute(select(Instance.id, Instance.instance_id, Instance.status, Instance.batch_idx,
                                             Instance.created_at).where(Instance.task_id == task.id)):
            self.row_ids[row.instance_id] = row.id
            if row.status == PENDING:
                ids, created = resumed.get(row.batch_idx, ([], _epoch(row.created_at)))
                resumed[row.batch_idx] = (ids + [row.instance_id], min(created, _epoch(row.created_at)))
        for idx, (ids, created) in resumed.items():
            readiness.add(("resume", idx), ids, created)
        stop = threading.Event()
        stop_reason: list[str] = []
        timeout = current_app.config["SCALE_READY_TIMEOUT"]
        min_count = 1 if limits.supports_partial_create else None

        def create(batch_idx: int, count: int, token: str, spec):
            if stop.is_set():
                return None
            result = self.provider.create_instances(spec, count, token, dict(tags, **{base.TAG_BATCH: str(batch_idx)}),
                                                    min_count=min_count)
            return result.instance_ids, time.time()

        def describe(ids):
            return self.provider.describe_instances(list(ids))

        todo = [b for b in batches if b.state in ("PENDING", "CREATING")]
        if todo:
            db.session.execute(update(TaskBatch).where(TaskBatch.id.in_([b.id for b in todo])).values(state="CREATING"))
            db.session.commit()
        creators = ThreadPoolExecutor(current_app.config["SCALE_BATCH_CONCURRENCY"], thread_name_prefix="create")
        pollers = ThreadPoolExecutor(POLLERS, thread_name_prefix="describe")
        futures = {creators.submit(create, b.idx, b.count, b.client_token, placement.spec(spec, b.placement)):
                   ("create", b.idx) for b in todo}
        swept = False
        try:
            while True:
                self.check_owner()
                now = time.time()
                for group in readiness.due(now, POLLERS - sum(1 for k, _ in futures.values() if k == "poll")):
                    group.in_flight = True
                    futures[pollers.submit(describe, sorted(group.ids))] = ("poll", group)
                expired = readiness.expired(now, timeout)
                if expired:
                    self.fail_unready(expired, timeout)
                    readiness.remove(expired)
                creating = any(k == "create" for k, _ in futures.values())
                if not creating and not swept and self.ambiguous:
                    swept = True  # a create that failed after retries may still have made machines
                    self.adopt(readiness, tags)
                    continue
                if not futures and not readiness.groups:
                    break
                wake = readiness.next_due(time.time())
                done, _ = wait(list(futures), timeout=min(wake if wake is not None else 1.0, 1.0),
                               return_when=FIRST_COMPLETED)
                for fut in done:
                    kind, ref = futures.pop(fut)
                    if kind == "create":
                        for b in self.created(fut, by_idx[ref], readiness, stop, stop_reason):
                            by_idx[b.idx], self.places[b.idx] = b, b.placement
                            futures[creators.submit(create, b.idx, b.count, b.client_token,
                                                    placement.spec(spec, b.placement))] = ("create", b.idx)
                    else:
                        self.polled(fut, ref, readiness, need_outer)
                self.progress()
        finally:
            stop.set()
            creators.shutdown(wait=True, cancel_futures=True)
            pollers.shutdown(wait=True, cancel_futures=True)
        self.check_owner()
        _finish(task, "; ".join(stop_reason + self.errors))

    def fall_back(self, batch: TaskBatch, remaining: int, reason: str) -> list[TaskBatch]:
        """The rest of an out-of-stock batch at the next placement (committed by the caller)."""
        row = placement.fall_back(self.cluster, batch, remaining, reason, f"bx-{install_id()}-{self.task.id}")
        return [row] if row is not None else []

    def created(self, fut, batch: TaskBatch, readiness: Readiness, stop, stop_reason) -> list[TaskBatch]:
        """Record one create call's outcome; returns new batches to start (capacity failover)."""
        try:
            outcome = fut.result()
        except base.CloudError as exc:
            batch.state, batch.error = "FAILED", str(exc)[:2000]
            more = self.fall_back(batch, batch.count, str(exc)) \
                if isinstance(exc, base.OutOfCapacity) and not stop.is_set() else []
            db.session.commit()
            if more:
                return more
            if isinstance(exc, STOPPING):
                if not stop.is_set():
                    stop.set()
                    stop_reason.append(f"{type(exc).__name__}: {exc}")
            else:
                self.ambiguous = True
                self.note_error(f"batch {batch.idx}: {exc}")
            return []
        if outcome is None:
            batch.state, batch.error = "SKIPPED", "not started: " + (stop_reason[0] if stop_reason else "stopped")
            db.session.commit()
            return []
        ids, accepted = outcome
        self.record(batch.idx, ids, accepted)
        batch.state, batch.instance_ids = "CREATED", ids
        more: list[TaskBatch] = []
        if len(ids) < batch.count:
            batch.error = f"the cloud created {len(ids)} of {batch.count}"
            more = self.fall_back(batch, batch.count - len(ids), batch.error) if not stop.is_set() else []
            if not more and not stop.is_set():
                stop.set()
                stop_reason.append(f"OutOfCapacity: {batch.error}")
        db.session.commit()
        pending = db.session.scalars(select(Instance.instance_id).where(
            Instance.id.in_([self.row_ids[i] for i in ids]), Instance.status == PENDING)).all()
        readiness.add(("batch", batch.idx), pending, accepted)
        return more

    def record(self, batch_idx: int, ids: list[str], accepted: float) -> None:
        """Insert rows for machines the database does not know yet (a replay returns known ids)."""
        known = set(db.session.scalars(select(Instance.instance_id).where(
            Instance.provider == self.cluster.provider, Instance.instance_id.in_(ids))))
        new = [i for i in ids if i not in known]
        if new:
            MACHINES_CREATED.labels(self.cluster.provider).inc(len(new))
            c, t = self.cluster, self.task
            place = self.places.get(batch_idx) or {"zone_id": c.zone_id, "instance_type": c.instance_type}
            db.session.execute(insert(Instance), [
                {"org_id": c.org_id, "cluster_id": c.id, "account_id": c.account_id, "task_id": t.id,
                 "batch_idx": batch_idx, "instance_id": i, "provider": c.provider, "region_id": c.region_id,
                 "zone_id": place["zone_id"], "instance_type": place["instance_type"], "image_id": c.image,
                 "status": PENDING,
                 "created_at": _naive(accepted)} for i in new])
        for row in db.session.execute(select(Instance.id, Instance.instance_id).where(
                Instance.provider == self.cluster.provider, Instance.instance_id.in_(ids))):
            self.row_ids[row.instance_id] = row.id

    def polled(self, fut, group, readiness: Readiness, need_outer: bool):
        now = time.time()
        try:
            seen = fut.result()
        except base.CloudError as exc:
            self.note_error(f"describe: {exc}")
            readiness.observed(group, [], now)
            return
        ready, gone = [], []
        for inst in seen:
            if inst.instance_id not in group.ids:
                continue
            if inst.status == base.RUNNING and inst.ip_inner and (inst.ip_outer or not need_outer):
                ready.append(inst)
            elif inst.status == base.DELETED:
                gone.append(inst.instance_id)
        at = _naive(now)
        if ready:
            db.session.execute(update(Instance), [
                {"id": self.row_ids[i.instance_id], "status": RUNNING, "ip_inner": i.ip_inner, "ip_outer": i.ip_outer,
                 "running_at": at} for i in ready])
        if gone:
            db.session.execute(update(Instance), [
                {"id": self.row_ids[i], "status": I_FAILED, "deleted_at": at} for i in gone])
            self.note_error(f"{len(gone)} machines vanished before they were running")
        db.session.commit()
        readiness.observed(group, [i.instance_id for i in ready] + gone, now)

    def fail_unready(self, ids: list[str], timeout: float):
        """Machines that never became ready are deleted (they would bill for nothing) and reported."""
        for chunk in base.chunks(ids, self.limits.max_delete_ids):
            try:
                self.provider.delete_instances(chunk)
            except base.CloudError as exc:
                self.note_error(f"could not delete unready machines: {exc}")
                continue  # left Pending: the reconciler will delete them
            db.session.execute(update(Instance), [
                {"id": self.row_ids[i], "status": I_FAILED, "deleted_at": utcnow()} for i in chunk])
            db.session.commit()
        self.note_error(f"{len(ids)} machines were not ready within {timeout:g}s and were deleted")

    def adopt(self, readiness: Readiness, tags: dict):
        """Ask the cloud what this task created, and record anything the database missed."""
        try:
            found = self.provider.describe_instances_by_tags({base.TAG_TASK: tags[base.TAG_TASK]})
        except base.CloudError as exc:
            self.note_error(f"could not list the task's machines: {exc}")
            return
        missing = [i for i in found if i.instance_id not in self.row_ids and i.status != base.DELETED]
        by_batch: dict[int, list[str]] = {}
        for inst in missing:
            by_batch.setdefault(int(inst.tags.get(base.TAG_BATCH, -1)), []).append(inst.instance_id)
        for idx, ids in by_batch.items():
            self.record(idx, ids, time.time())
            db.session.commit()
            readiness.add(("adopted", idx), ids, time.time())


class Shrinker(_Runner):
    def run(self):
        task = self.task
        victims = db.session.scalars(select(Instance.instance_id).where(
            Instance.delete_task_id == task.id).order_by(Instance.id)).all()
        batches = self.batches(lambda: [(len(c), c) for c in base.chunks(list(victims), self.limits.max_delete_ids)])
        todo = [b for b in batches if b.state in ("PENDING", "DELETING")]
        with ThreadPoolExecutor(current_app.config["SCALE_BATCH_CONCURRENCY"], thread_name_prefix="delete") as pool:
            futures = {pool.submit(self.provider.delete_instances, list(b.instance_ids)): b for b in todo}
            for b in todo:
                b.state = "DELETING"
            db.session.commit()
            pending = set(futures)
            while pending:
                self.check_owner()
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    self.deleted(fut, futures[fut])
                self.progress()
        self.check_owner()
        _finish(task, "; ".join(self.errors))

    def deleted(self, fut, batch: TaskBatch):
        ids = list(batch.instance_ids)
        scope = (Instance.delete_task_id == self.task.id, Instance.provider == self.cluster.provider,
                 Instance.instance_id.in_(ids))
        try:
            fut.result()
        except base.CloudError as exc:
            batch.state, batch.error = "FAILED", str(exc)[:2000]
            self.note_error(f"batch {batch.idx}: {exc}")
            # Still alive in the cloud: back to the inventory as they were.
            db.session.execute(update(Instance).where(*scope, Instance.ip_inner.is_(None))
                               .values(status=PENDING, delete_task_id=None))
            db.session.execute(update(Instance).where(*scope, Instance.status == DELETING)
                               .values(status=RUNNING, delete_task_id=None))
            db.session.commit()
            return
        db.session.execute(update(Instance).where(*scope).values(status=DELETED, deleted_at=utcnow()))
        MACHINES_DELETED.labels(self.cluster.provider).inc(len(ids))
        batch.state = "DONE"
        db.session.commit()


def resume_stale() -> list[int]:
    """Unfinished tasks nobody is running; the caller enqueues them again."""
    from app.tasks.service import stale_tasks
    return stale_tasks(current_app.config["SCALE_STALE_SECONDS"])

"""The scaling engine: runs one expand or shrink task to its end, safely more than once.

Promises (see the README's design section):
- Every batch is a durable row written before its cloud call; its client token is derived from
  (deployment, task, batch), so a replay after a crash returns the same machines.
- A worker claims a task atomically and heart-beats; a task whose holder stopped beating can be
  claimed again and resumes from its rows. A second delivery of the same message finds the task
  held (or finished) and does nothing.
- Cloud calls run in worker threads that never touch the database; the engine's own thread
  writes results in bulk.
- A database error never closes a task: the run stops, what it could not write is dropped (the
  batch rows still say CREATING, so the next run replays their client tokens) and the claim is
  released for the resumer. A task is only ever closed by the worker that still holds it.
- A warm shutdown (SIGTERM) stops the run between steps, writes what it has, and releases the
  claim at once (`SHUTDOWN`); a cancel request (a column) stops creating between batches.
"""
from __future__ import annotations

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
from sqlalchemy.exc import SQLAlchemyError

from app.accounts.models import CloudAccount
from app.clusters.models import Cluster
from app.core.crypto import decrypt
from app.core.deployment import deployment_id
from app.core.db import update_rows, utcnow
from app.core.logs import REQUEST_ID
from app.extensions import db
from app.metrics.collectors import MACHINES_CREATED, MACHINES_DELETED
from app.instances.models import DELETED, DELETING, FAILED as I_FAILED, LIVE, PENDING, RUNNING, Instance
from app.providers import base, registry
from app.providers.ratelimit import URGENT
from app.tasks import placement
from app.tasks.models import (EXPAND, FAILED, FINISHED, PARTIAL_SUCCESS, RUNNING as T_RUNNING, SUCCESS, Task,
                              TaskBatch)
from app.tasks.readiness import Readiness

log = logging.getLogger(__name__)
STOPPING = (base.OutOfCapacity, base.QuotaExceeded, base.AuthFailed, base.InvalidRequest)
POLLERS = 4  # describe calls in flight at once; keeps the describe budget from piling up
RETRYABLE = (base.CloudUnavailable, base.Throttled)
# Set when this worker process begins a warm shutdown (workers/tasks.py connects it to Celery).
SHUTDOWN = threading.Event()


_attempts = threading.local()


def _note_attempt(provider, api, outcome, seconds):
    """Registry call listener: (outcome, start, end epoch) of each SDK attempt of a tracking thread."""
    made = getattr(_attempts, "made", None)
    if made is not None:
        now = time.time()
        made.append((outcome, now - seconds, now))


registry.add_call_listener(_note_attempt)


def tracked(fn):
    """fn() → (its result, [(outcome, start, end)] of each SDK attempt it made, retries included)."""
    _attempts.made = []
    try:
        return fn(), _attempts.made
    finally:
        _attempts.made = None


def likely_accept(attempts, replied: float) -> float:
    """When the cloud most likely accepted a call: during its first attempt that may have reached
    it (a lost reply, a timeout, a 5xx or the answer), not a later replay. An answered or quickly
    failed attempt: its end (the cloud works, then answers); a slow failure (a read timeout): its
    start, as the cloud accepted early and the reply never came."""
    for outcome, start, end in attempts:
        if outcome == "ok" or (outcome == "CloudUnavailable" and end - start <= 1.0):
            return end
        if outcome == "CloudUnavailable":
            return start
    return replied


class CallPool(ThreadPoolExecutor):
    """The threads that call the cloud. Each call carries the submitter's request id, so the id
    that started the task is on the cloud-call log lines too (retries, errors); nothing else of
    the submitter's context (no app context: these threads never touch the database).
    `urgent=True`: the call's rate-limit waits go before other tasks' normal calls (ratelimit.py)."""

    def submit(self, fn, /, *args, urgent: bool = False, **kwargs):
        request_id = REQUEST_ID.get()

        def call():
            REQUEST_ID.set(request_id)
            URGENT.set(urgent)
            return fn(*args, **kwargs)
        return super().submit(call)


class _NotSent(Exception):
    """A queued delete batch found the worker stopping before it was sent."""


class LostOwnership(Exception):
    """Another worker took the task over (this one was presumed dead)."""


class HandBack(Exception):
    """The worker is shutting down: stop, keep what is written, release the claim."""


def install_id() -> str:
    """Short, stable per deployment: keeps client tokens and tags unique across deployments.
    Stored in the database (app/core/deployment.py), never derived from the secret key."""
    return deployment_id()


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


def _polling(futures) -> int:
    return sum(1 for kind, _ in futures.values() if kind == "poll")


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


def release(task_id: int, holder: str, patience: float = 0.0) -> bool:
    """Give the claim up (only if still ours) so the resumer restarts the task at once; retried
    for up to `patience` seconds while the database is unreachable."""
    deadline = time.monotonic() + patience
    while True:
        try:
            result = db.session.execute(update(Task).where(Task.id == task_id, Task.holder == holder)
                                        .values(holder=None, heartbeat_at=None))
            db.session.commit()
            return result.rowcount == 1
        except SQLAlchemyError:
            db.session.rollback()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)


def run(task_id: int) -> str:
    """Run (or resume) a task; returns what happened, for logs and tests:
    finished | not-claimed | lost | handed-back | interrupted | error."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    if SHUTDOWN.is_set() or not claim(task_id, holder):
        return "not-claimed"
    task = db.session.get(Task, task_id)
    log.info("task %s %s by worker %s (cluster %s, %s, run %d)", task_id, "resumed" if task.runs > 1 else "claimed",
             holder, task.cluster_id, task.action.lower(), task.runs)
    beat = Heartbeat(current_app._get_current_object(), task_id, holder)
    beat.start()
    try:
        runner = (Expander if task.action == EXPAND else Shrinker)(task, beat, holder)
        runner.run()
        return "finished"
    except LostOwnership:
        log.warning("task %s was taken over by another worker", task_id)
        return "lost"
    except HandBack:
        db.session.rollback()
        beat.done.set()
        released = release(task_id, holder, patience=5.0)
        log.warning("task %s handed back by worker %s at shutdown (claim %s)", task_id, holder,
                    "released" if released else "left to expire")
        return "handed-back"
    except SQLAlchemyError as exc:
        db.session.rollback()
        beat.done.set()
        released = release(task_id, holder, patience=current_app.config["SCALE_STALE_SECONDS"])
        log.warning("task %s interrupted by a database error (%s); it stays open and resumes from its rows "
                    "(claim %s)", task_id, type(exc).__name__, "released" if released else "left to expire")
        return "interrupted"
    except Exception as exc:
        log.exception("task %s stopped by an internal error", task_id)
        db.session.rollback()
        try:
            _finish(db.session.get(Task, task_id), holder, f"internal error: {type(exc).__name__}")
        except (LostOwnership, SQLAlchemyError):
            db.session.rollback()
            log.warning("task %s left open: this worker no longer holds it or cannot write it", task_id)
        return "error"
    finally:
        beat.done.set()


def _finish(task: Task, holder: str, reason: str = "") -> None:
    """Close a task, only while `holder` still holds it: counts from the rows, status from the
    counts, a reason whenever it is not a full success, lock released."""
    if task.action == EXPAND:
        success = db.session.scalar(select(func.count()).where(Instance.task_id == task.id, Instance.status == RUNNING))
    else:
        success = db.session.scalar(select(func.count()).where(Instance.delete_task_id == task.id,
                                                               Instance.status == DELETED))
    status = SUCCESS if success == task.count else PARTIAL_SUCCESS if success else FAILED
    if status == SUCCESS:
        reason = ""
    elif not reason:
        verb = "created" if task.action == EXPAND else "deleted"
        reason = f"{task.count - success} of {task.count} machines were not {verb}"
        if task.last_error:
            reason += f"; last cloud error: {task.last_error}"
    after = db.session.scalar(select(func.count()).where(Instance.cluster_id == task.cluster_id,
                                                         Instance.status.in_(LIVE)))
    result = db.session.execute(update(Task).where(Task.id == task.id, Task.holder == holder,
                                                   Task.lock_cluster_id.is_not(None)).values(
        success_num=success, fail_num=task.count - success, status=status, fail_reason=reason, after_count=after,
        finished_at=utcnow(), lock_cluster_id=None, waiting_reason=None))
    if result.rowcount != 1:
        db.session.rollback()
        raise LostOwnership()
    db.session.commit()
    db.session.refresh(task)
    line = "task %s %s: %s of %s %s"
    (log.info if status == SUCCESS else log.warning)(line, task.id, status, success, task.count, reason)


def _precision(stamp: datetime) -> float:
    """How coarse a cloud's timestamp is (Alibaba writes whole minutes, most clouds seconds)."""
    if stamp.microsecond:
        return 0.001
    return 60.0 if stamp.second == 0 else 1.0


def span_start(likely: float, cloud: datetime | None) -> float:
    """When a machine's billing span starts: our best estimate of the cloud's accept time
    (`likely`), kept within the cloud's own launch stamp to that stamp's precision. Exact on clean
    paths (the reply time); after lost replies, replays or adoption the stamp bounds the error."""
    if cloud is None:
        return likely
    stamp = _epoch(cloud) if cloud.tzinfo is None else cloud.timestamp()
    precision = _precision(cloud)
    if stamp <= likely <= stamp + precision:
        return likely
    if precision <= 1.0:
        return stamp + precision / 2
    return stamp if likely < stamp else stamp + precision


class _Runner:
    def __init__(self, task: Task, beat: Heartbeat, holder: str):
        self.task, self.beat, self.holder = task, beat, holder
        self.cluster = db.session.get(Cluster, task.cluster_id)
        self.provider = provider_for(self.cluster)
        self.limits = self.provider.limits
        self.errors: list[str] = []
        self.last_progress = 0.0
        self.counts = (task.success_num, task.fail_num)
        self.cancelled = task.cancel_requested_at is not None
        self.ambiguous = False  # a create failed in a way that may still have made machines
        started = task.started_at or utcnow()
        self.deadline = _epoch(started) + current_app.config["SCALE_READY_TIMEOUT"]

    def check_owner(self):
        if self.beat.lost.is_set():
            raise LostOwnership()

    def note_error(self, message: str):
        if message not in self.errors:
            self.errors.append(message)

    def cancel_reason(self) -> str:
        return f"cancelled by {self.task.cancel_by or 'an operator'}"

    # what task/describe shows while the task runs ---------------------------------------
    def cloud_failed(self, what: str, exc: base.CloudError) -> None:
        """Remember the latest cloud error; a transient one (outage, throttling) means waiting."""
        message = f"{what}: {exc}"[:2000]
        self.task.last_error = message
        if isinstance(exc, RETRYABLE) and not self.task.waiting_reason:
            self.task.waiting_reason = f"waiting for the cloud: {message}"
            log.warning("task %s (cluster %s) waiting for the cloud: %s", self.task.id, self.cluster.id, message)
        db.session.commit()

    def cloud_ok(self) -> None:
        if self.task.waiting_reason:
            self.task.waiting_reason = None
            db.session.commit()
            log.info("task %s (cluster %s) the cloud answers again", self.task.id, self.cluster.id)

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
        """Publish counts for task/describe at most twice a second; learn of a cancel request."""
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
        counts = (db.session.scalar(done), db.session.scalar(failed) if failed is not None else 0)
        self.task.success_num, self.task.fail_num = counts
        if counts != self.counts:
            self.counts, self.task.last_progress_at = counts, utcnow()
        db.session.commit()
        if not self.cancelled and self.task.cancel_requested_at is not None:  # reloaded after the commit
            self.cancelled = True
            log.warning("task %s (cluster %s) cancel requested by %s: no new batches start", self.task.id,
                        self.cluster.id, self.task.cancel_by)

    def moved(self):
        self.task.last_progress_at = utcnow()


class Expander(_Runner):
    def run(self):
        task, limits = self.task, self.limits
        tags = {base.TAG_CLUSTER: cluster_tag(self.cluster.id), base.TAG_TASK: task_tag(task.id)}
        spec = spec_for(self.cluster)
        need_outer = spec.internet_max_bandwidth_out > 0
        # capacity failover and zone balance (placement.py): each batch row carries its placement
        batches = self.batches(lambda: [(n, None, place)
                                        for n, place in placement.plan(self.cluster, task.count, limits.max_create)])
        self.by_idx = by_idx = {b.idx: b for b in batches}
        self.places = {b.idx: b.placement for b in batches}
        for b in batches:  # what an earlier run of this task already learned
            if b.error and b.state not in ("PENDING", "CREATING"):
                self.note_error(f"batch {b.idx}: {b.error}")
        readiness = Readiness()
        self.row_ids: dict[str, int] = {}
        # instance id -> our best estimate (epoch) of the cloud's accept time, before its own stamp
        self.likely: dict[str, float] = {}
        self.requested = requested = {b.idx: _epoch(b.requested_at) for b in batches if b.requested_at is not None}
        # Urgent calls go before other tasks' later batches on the account's budget: the task's first
        # create (and its failover) until it has machines, the polls of its oldest batch until one runs.
        self.seen_running = False
        resumed: dict[int, tuple[list, float]] = {}
        for row in db.session.execute(select(Instance.id, Instance.instance_id, Instance.status, Instance.batch_idx,
                                             Instance.created_at).where(Instance.task_id == task.id)):
            self.row_ids[row.instance_id] = row.id
            self.seen_running = self.seen_running or row.status == RUNNING
            if row.status == PENDING:
                ids, created = resumed.get(row.batch_idx, ([], _epoch(row.created_at)))
                resumed[row.batch_idx] = (ids + [row.instance_id], min(created, _epoch(row.created_at)))
                self.likely[row.instance_id] = _epoch(row.created_at)
        for idx, (ids, created) in resumed.items():
            readiness.add(("resume", idx), ids, created)
        stop, halt = threading.Event(), threading.Event()  # stop: no new batches; halt: hand back
        stop_reason: list[str] = []
        timeout = current_app.config["SCALE_READY_TIMEOUT"]
        min_count = 1 if limits.supports_partial_create else None

        def create(batch_idx: int, count: int, token: str, spec):
            if stop.is_set() or halt.is_set():
                return None
            result, attempts = tracked(lambda: self.provider.create_instances(
                spec, count, token, dict(tags, **{base.TAG_BATCH: str(batch_idx)}), min_count=min_count))
            replied = time.time()
            return result.instance_ids, likely_accept(attempts, replied), replied

        def describe(ids):
            return self.provider.describe_instances(list(ids))

        todo = [b for b in batches if b.state in ("PENDING", "CREATING")]
        if todo:
            ids = [b.id for b in todo]
            db.session.execute(update(TaskBatch).where(TaskBatch.id.in_(ids), TaskBatch.requested_at.is_(None))
                               .values(requested_at=utcnow()))
            db.session.execute(update(TaskBatch).where(TaskBatch.id.in_(ids)).values(state="CREATING"))
            db.session.commit()
        if self.cancelled:
            stop.set()
            stop_reason.append(self.cancel_reason())
        creators = CallPool(current_app.config["SCALE_BATCH_CONCURRENCY"], thread_name_prefix="create")
        pollers = CallPool(POLLERS, thread_name_prefix="describe")
        futures = {creators.submit(create, b.idx, b.count, b.client_token, placement.spec(spec, b.placement),
                                   urgent=b is todo[0] and not self.row_ids): ("create", b.idx) for b in todo}
        # A create that failed after retries, or an earlier run, may have made machines no row knows:
        # list the task's machines by tag once the creates are done, retried until the deadline.
        self.sweep_at = 0.0 if task.runs > 1 else None
        sweep_backoff = 0.5
        try:
            while True:
                self.check_owner()
                if SHUTDOWN.is_set() and not halt.is_set():
                    halt.set()  # in-flight creates finish and are written; nothing new starts
                    log.warning("task %s: worker shutting down, handing the task back", task.id)
                if self.cancelled and not stop.is_set():
                    stop.set()
                    stop_reason.append(self.cancel_reason())
                creating = any(k == "create" for k, _ in futures.values())
                if halt.is_set():
                    if not creating:
                        raise HandBack()
                else:
                    now = time.time()
                    oldest = min(readiness.groups.values(), key=lambda g: g.created, default=None)
                    for group in readiness.due(now, POLLERS - _polling(futures)):
                        group.in_flight = True
                        futures[pollers.submit(describe, sorted(group.ids),
                                               urgent=group is oldest and not self.seen_running)] = ("poll", group)
                    expired = readiness.expired(now, timeout)
                    if expired:
                        self.fail_unready(expired, timeout)
                        readiness.remove(expired)
                    if self.ambiguous and self.sweep_at is None:
                        self.sweep_at = 0.0
                    if not creating and self.sweep_at is not None and now >= self.sweep_at:
                        if self.adopt(readiness, tags):
                            self.sweep_at, self.ambiguous = None, False
                        elif now > self.deadline:
                            self.sweep_at, self.ambiguous = None, False
                            self.note_error("gave up listing the task's machines by tag: the task's deadline passed")
                        else:
                            self.sweep_at, sweep_backoff = now + sweep_backoff, min(sweep_backoff * 2, 5.0)
                        continue
                    if not futures and not readiness.groups and self.sweep_at is None:
                        break
                wake = readiness.next_due(time.time())
                if wake == 0 and _polling(futures) >= POLLERS:
                    wake = 1.0  # every poller is busy: nothing to start before a call returns
                if self.sweep_at is not None and not creating:  # (the listing waits for the creates)
                    wake = max(min(wake if wake is not None else 1.0, self.sweep_at - time.time()), 0.0)
                pause = min(wake if wake is not None else 1.0, 1.0)
                if futures:
                    done, _ = wait(list(futures), timeout=pause, return_when=FIRST_COMPLETED)
                else:
                    done = ()
                    SHUTDOWN.wait(pause)
                for fut in done:
                    kind, ref = futures.pop(fut)
                    if kind == "create":
                        for b in self.created(fut, by_idx[ref], readiness, stop, stop_reason, halt):
                            by_idx[b.idx], self.places[b.idx] = b, b.placement
                            futures[creators.submit(create, b.idx, b.count, b.client_token,
                                                    placement.spec(spec, b.placement),
                                                    urgent=not self.row_ids)] = ("create", b.idx)
                    elif not halt.is_set():
                        self.polled(fut, ref, readiness, need_outer)
                self.progress()
        finally:
            stop.set()
            creators.shutdown(wait=True, cancel_futures=True)
            pollers.shutdown(wait=True, cancel_futures=True)
        self.check_owner()
        self.progress(force=True)
        _finish(task, self.holder, "; ".join(stop_reason + self.errors))

    def fall_back(self, batch: TaskBatch, remaining: int, reason: str) -> list[TaskBatch]:
        """The rest of an out-of-stock batch at the next placement (committed by the caller)."""
        row = placement.fall_back(self.cluster, batch, remaining, reason, f"bx-{install_id()}-{self.task.id}")
        if row is None:
            return []
        row.requested_at = utcnow()  # sent as soon as it is committed (billing start lower bound)
        return [row]

    def created(self, fut, batch: TaskBatch, readiness: Readiness, stop, stop_reason, halt) -> list[TaskBatch]:
        """Record one create call's outcome; returns new batches to start (capacity failover)."""
        try:
            outcome = fut.result()
        except base.CloudError as exc:
            batch.state, batch.error = "FAILED", str(exc)[:2000]
            # the remainder's row is written even while handing back: it stays CREATING for the next run
            more = self.fall_back(batch, batch.count, str(exc)) \
                if isinstance(exc, base.OutOfCapacity) and not stop.is_set() else []
            self.cloud_failed(f"batch {batch.idx}", exc)
            if more:
                self.remember_requested(more)
                return more
            if isinstance(exc, STOPPING):  # every such reason is kept: it carries the cloud's code
                stop.set()
                if f"{type(exc).__name__}: {exc}" not in stop_reason:
                    stop_reason.append(f"{type(exc).__name__}: {exc}")
            else:
                self.ambiguous = True
                self.note_error(f"batch {batch.idx}: {exc}")
            return []
        if outcome is None:
            if halt.is_set():
                return []  # not sent: stays CREATING, the next run sends it
            batch.state, batch.error = "SKIPPED", "not started: " + (stop_reason[0] if stop_reason else "stopped")
            db.session.commit()
            return []
        self.cloud_ok()
        ids, likely, replied = outcome
        likely = self.requested.get(batch.idx, likely)  # an earlier run sent it first
        for i in ids:
            self.likely[i] = likely
        self.record(batch.idx, ids, lambda i: likely)
        batch.state, batch.instance_ids = "CREATED", ids
        more: list[TaskBatch] = []
        if len(ids) < batch.count:
            batch.error = f"the cloud created {len(ids)} of {batch.count} (out of stock)"
            if not stop.is_set():
                more = self.fall_back(batch, batch.count - len(ids), batch.error)
            if not more and not stop.is_set():
                stop.set()
                stop_reason.append(f"OutOfCapacity: {batch.error}")
        self.moved()
        db.session.commit()
        self.remember_requested(more)
        pending = db.session.scalars(select(Instance.instance_id).where(
            Instance.id.in_([self.row_ids[i] for i in ids]), Instance.status == PENDING)).all()
        readiness.add(("batch", batch.idx), pending, replied)
        return more

    def remember_requested(self, rows: list[TaskBatch]) -> None:
        for row in rows:
            self.requested[row.idx] = _epoch(row.requested_at)

    def record(self, batch_idx: int, ids: list[str], start) -> None:
        """Insert rows for machines the database does not know yet (a replay returns known ids);
        `start(instance_id)` is the epoch second its billing span starts."""
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
                 "status": PENDING, "created_at": _naive(start(i))} for i in new])
        for row in db.session.execute(select(Instance.id, Instance.instance_id).where(
                Instance.provider == self.cluster.provider, Instance.instance_id.in_(ids))):
            self.row_ids[row.instance_id] = row.id

    def polled(self, fut, group, readiness: Readiness, need_outer: bool):
        now = time.time()
        try:
            seen = fut.result()
        except base.CloudError as exc:
            self.note_error(f"describe: {exc}")
            self.cloud_failed("describe", exc)
            readiness.observed(group, [], now)
            return
        self.cloud_ok()
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
            self.seen_running = True
            rows = []
            for i in ready:
                row = {"id": self.row_ids[i.instance_id], "status": RUNNING, "ip_inner": i.ip_inner,
                       "ip_outer": i.ip_outer, "running_at": at}
                if i.instance_id in self.likely and i.created_at is not None:  # the cloud's own launch time
                    row["created_at"] = _naive(span_start(self.likely[i.instance_id], i.created_at))
                rows.append(row)
            update_rows(Instance, rows)
            self.moved()
        if gone:
            update_rows(Instance, [{"id": self.row_ids[i], "status": I_FAILED, "deleted_at": at} for i in gone])
            self.note_error(f"{len(gone)} machines vanished before they were running")
        db.session.commit()
        readiness.observed(group, [i.instance_id for i in ready] + gone, now)

    def fail_unready(self, ids: list[str], timeout: float):
        """Machines that never became ready are deleted (they would bill for nothing) and reported."""
        log.warning("task %s (cluster %s): deleting %d machines not ready within %gs", self.task.id,
                    self.cluster.id, len(ids), timeout)
        for chunk in base.chunks(ids, self.limits.max_delete_ids):
            try:
                self.provider.delete_instances(chunk)
            except base.CloudError as exc:
                self.note_error(f"could not delete unready machines: {exc}")
                continue  # left Pending: the reconciler will delete them
            update_rows(Instance, [{"id": self.row_ids[i], "status": I_FAILED, "deleted_at": utcnow()} for i in chunk])
            db.session.commit()
        self.note_error(f"{len(ids)} machines were not ready within {timeout:g}s and were deleted")

    def adopt(self, readiness: Readiness, tags: dict) -> bool:
        """Ask the cloud what this task created, record anything the database missed and correct
        the batch rows; False when the listing failed (the caller retries)."""
        try:
            found = self.provider.describe_instances_by_tags({base.TAG_TASK: tags[base.TAG_TASK]})
        except base.CloudError as exc:
            self.cloud_failed("listing the task's machines by tag", exc)
            log.warning("task %s: could not list its machines by tag (%s); retrying", self.task.id, exc)
            return False
        self.cloud_ok()
        found = [i for i in found if i.status != base.DELETED]
        by_batch: dict[int, list] = {}
        for inst in found:
            try:
                idx = int(inst.tags.get(base.TAG_BATCH, -1))
            except (TypeError, ValueError):
                idx = -1
            by_batch.setdefault(idx, []).append(inst)
        now = time.time()
        for idx, insts in by_batch.items():
            batch = self.by_idx.get(idx)
            first = _epoch(batch.requested_at) if batch is not None and batch.requested_at is not None else now
            stamps = {i.instance_id: i.created_at for i in insts}
            missing = [i.instance_id for i in insts if i.instance_id not in self.row_ids]
            if missing:
                log.warning("task %s: adopted %d machines of batch %s found by tag", self.task.id, len(missing), idx)
                self.record(idx, missing, lambda i: span_start(first, stamps[i]))
                readiness.add(("adopted", idx), missing, now)
                self.moved()
            if batch is not None and batch.state == "FAILED":
                ids = sorted(i.instance_id for i in insts)
                old = batch.error
                batch.state, batch.instance_ids = "CREATED", ids
                batch.error = "" if len(ids) >= batch.count else \
                    f"adopted {len(ids)} of {batch.count} by tag after: {old}"
                if len(ids) >= batch.count:
                    self.errors = [e for e in self.errors if not e.startswith(f"batch {idx}: ")]
            db.session.commit()
        return True


class Shrinker(_Runner):
    def run(self):
        task = self.task
        victims = db.session.scalars(select(Instance.instance_id).where(
            Instance.delete_task_id == task.id).order_by(Instance.id)).all()
        batches = self.batches(lambda: [(len(c), c) for c in base.chunks(list(victims), self.limits.max_delete_ids)])
        todo = [b for b in batches if b.state in ("PENDING", "DELETING")]

        def send(ids):
            if SHUTDOWN.is_set():  # a batch still queued when the worker stops is left for the next run
                raise _NotSent()
            return self.provider.delete_instances(ids)

        halted = False
        with CallPool(current_app.config["SCALE_BATCH_CONCURRENCY"], thread_name_prefix="delete") as pool:
            futures = {pool.submit(send, list(b.instance_ids)): b for b in todo}
            for b in todo:
                b.state = "DELETING"
            db.session.commit()
            pending = set(futures)
            while pending:
                self.check_owner()
                if (SHUTDOWN.is_set() or self.cancelled) and not halted:
                    halted = True  # batches not yet sent are not sent; those in flight finish
                    for fut in pending:
                        if fut.cancel():
                            self.not_sent(futures[fut], handing_back=SHUTDOWN.is_set())
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut.cancelled():
                        continue
                    if isinstance(fut.exception(), _NotSent):
                        halted = True
                        self.not_sent(futures[fut], handing_back=True)
                    else:
                        self.deleted(fut, futures[fut])
                self.progress()
        if SHUTDOWN.is_set() and halted:
            raise HandBack()
        self.check_owner()
        self.progress(force=True)
        _finish(task, self.holder, "; ".join(([self.cancel_reason()] if self.cancelled else []) + self.errors))

    def _scope(self, ids):
        return (Instance.delete_task_id == self.task.id, Instance.provider == self.cluster.provider,
                Instance.instance_id.in_(ids))

    def _restore(self, ids) -> None:
        """Still alive in the cloud: back to the inventory as they were."""
        scope = self._scope(ids)
        db.session.execute(update(Instance).where(*scope, Instance.ip_inner.is_(None))
                           .values(status=PENDING, delete_task_id=None))
        db.session.execute(update(Instance).where(*scope, Instance.status == DELETING)
                           .values(status=RUNNING, delete_task_id=None))

    def not_sent(self, batch: TaskBatch, handing_back: bool):
        if handing_back:
            return  # stays DELETING: the next run sends it
        self._restore(list(batch.instance_ids))
        batch.state, batch.error = "SKIPPED", f"not started: {self.cancel_reason()}"
        db.session.commit()

    def deleted(self, fut, batch: TaskBatch):
        ids = list(batch.instance_ids)
        try:
            fut.result()
            gone_at = utcnow()
        except base.CloudError as exc:
            # A lost reply says nothing about the machines: ask the cloud what is still there.
            self.cloud_failed(f"batch {batch.idx}", exc)
            alive = self.still_alive(ids)
            if alive is None:
                alive = set(ids)
                self.note_error(f"batch {batch.idx}: {exc} (and the machines could not be described)")
            gone = [i for i in ids if i not in alive]
            if alive:
                batch.state, batch.error = "FAILED", str(exc)[:2000]
                self.note_error(f"batch {batch.idx}: {exc}")
                self._restore(sorted(alive))
            else:
                batch.state, batch.error = "DONE", ""
            log.warning("task %s: delete batch %s answered %s; described: %d gone, %d still running",
                        self.task.id, batch.idx, type(exc).__name__, len(gone), len(alive))
            ids, gone_at = gone, utcnow()
        else:
            batch.state = "DONE"
            self.cloud_ok()
        if ids:
            db.session.execute(update(Instance).where(*self._scope(ids)).values(status=DELETED, deleted_at=gone_at))
            MACHINES_DELETED.labels(self.cluster.provider).inc(len(ids))
            self.moved()
        db.session.commit()

    def still_alive(self, ids: list[str]) -> set[str] | None:
        """The ids the cloud still runs (described, retried briefly); None if it cannot say."""
        for attempt in range(5):
            try:
                alive = set()
                for chunk in base.chunks(ids, self.limits.max_describe_ids):
                    alive |= {i.instance_id for i in self.provider.describe_instances(chunk)
                              if i.status != base.DELETED}
                return alive
            except base.CloudError:
                time.sleep(min(0.5 * 2 ** attempt, 5.0))
        return None

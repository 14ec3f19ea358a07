"""Scaling tasks: accept a request (one task per cluster at a time), then hand it to a worker."""
from __future__ import annotations

import logging

from sqlalchemy import and_, func, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import CloudAccount
from app.clusters import service as clusters
from app.clusters.models import CUSTOM, Cluster
from app.core.db import transaction, utcnow
from app.core.errors import Conflict, NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, principal
from app.core.timefmt import fmt
from app.elastic.policy import pick_victims
from app.extensions import db
from app.instances.models import DELETING, LIVE, PENDING, RUNNING, Instance
from app.instances.service import startup_seconds
from app.tasks import queue, quota
from app.tasks.models import EXPAND, FAILED, FINISHED, INIT, SHRINK, IdempotencyKey, Task, TaskBatch

log = logging.getLogger(__name__)


def unfinished_task_of(cluster_id: int) -> Task | None:
    return db.session.scalar(select(Task).where(Task.lock_cluster_id == cluster_id))


def _cluster(name: str) -> Cluster:
    try:
        cluster = clusters.get_by_name(name)
    except NotFound:
        raise ParamInvalid("cluster_name", f"no cluster named {name!r}")
    if cluster.cluster_type == CUSTOM:
        raise ParamInvalid("cluster_name", "a custom cluster of existing machines cannot be scaled")
    return cluster


def _new_task(cluster: Cluster, action: str, name: str, count: int, ips=None, create_by: str | None = None) -> Task:
    live = db.session.scalar(select(func.count()).where(Instance.cluster_id == cluster.id, Instance.status.in_(LIVE)))
    task = Task(org_id=cluster.org_id, cluster_id=cluster.id, lock_cluster_id=cluster.id, task_name=name,
                action=action, status=INIT, count=count, ips=ips, before_count=live,
                expect_count=live + count if action == EXPAND else live - count,
                create_by=create_by or principal().username)
    db.session.add(task)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        busy = unfinished_task_of(cluster.id)
        raise Conflict({"cluster_name": f"cluster {cluster.name!r} already has an unfinished task"
                                        + (f" ({busy.id})" if busy else "")})
    return task


def _replayed(key: str | None, action: str, cluster: Cluster) -> int | None:
    """The task an earlier request with this Idempotency-Key started, if any."""
    if not key:
        return None
    row = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.org_id == cluster.org_id,
                                                         IdempotencyKey.key == key))
    if row is None:
        return None
    if row.action != action or row.cluster_id != cluster.id:
        raise Conflict({"Idempotency-Key": f"already used for a different request (task {row.task_id})"})
    log.info("Idempotency-Key replay: task %s answered again", row.task_id)
    return row.task_id


def _remember(key: str | None, task: Task) -> None:
    if key:
        db.session.add(IdempotencyKey(org_id=task.org_id, key=key, task_id=task.id, action=task.action,
                                      cluster_id=task.cluster_id))
        db.session.flush()


def _accept(key: str | None, action: str, cluster: Cluster, create) -> int:
    """Run `create` (which opens the task) once per idempotency key; a concurrent retry that lost
    the race answers with the winner's task."""
    found = _replayed(key, action, cluster)
    if found:
        return found
    # The task is written in a transaction of its own: reads made so far (the caller, the cluster)
    # end here, so under MySQL's repeatable read the quota's counts, taken after the organisation
    # lock, never come from a snapshot older than a concurrent request's commit.
    db.session.commit()
    try:
        with transaction():
            task = create()
            _remember(key, task)
    except (Conflict, IntegrityError):
        db.session.rollback()
        found = _replayed(key, action, cluster)
        if found:
            return found
        raise
    _enqueue(task.id)
    return task.id


def _locked(cluster: Cluster) -> Cluster:
    """The cluster row again, locked until commit (MySQL): desired/min/max change one at a time.
    Lock order on every path: the cluster, then (quota) the organisation."""
    cluster_id = inspect(cluster).identity[0]  # not `cluster.id`: an expired row would be re-read first,
    # and under MySQL's repeatable read that read would fix the snapshot before the locks are held
    return db.session.scalar(select(Cluster).where(Cluster.id == cluster_id).with_for_update())


def live_now(cluster_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Instance.cluster_id == cluster_id,
                                                        Instance.status.in_((PENDING, RUNNING))))


def _move_desired(cluster: Cluster, target: int, field: str) -> None:
    """min/max hold on every path; a manual change on an elastic cluster moves `desired`."""
    if cluster.max_size is not None and target > cluster.max_size:
        raise ParamInvalid(field, f"would make the cluster {target} machines, above its max {cluster.max_size}")
    if cluster.min_size is not None and target < cluster.min_size:
        raise ParamInvalid(field, f"would make the cluster {target} machines, below its min {cluster.min_size}")
    if cluster.desired is not None:
        cluster.desired = target


def expand(body: dict, idempotency_key: str | None = None) -> int:
    cluster = _cluster(body["cluster_name"])

    def create() -> Task:
        locked = _locked(cluster)  # a locking read: the transaction's snapshot starts after both locks
        quota.check_expand(org_id(), body["count"])  # locks the organisation, then counts
        _move_desired(locked, live_now(locked.id) + body["count"], "count")
        return _new_task(locked, EXPAND, body["task_name"], body["count"])
    return _accept(idempotency_key, EXPAND, cluster, create)


class _Nothing(Exception):
    """The elastic controller's plan came to nothing (busy cluster, nothing to do)."""


def system_expand(cluster_id: int, name: str, plan) -> int | None:
    """Expand started by the elastic controller, through the same path as a user's (quotas, max):
    `plan(cluster, live)` decides, under the cluster lock, how many to add (0: none); max is
    checked again here. None when the cluster is busy or nothing is to be done; QuotaExceeded
    when the organisation's quota forbids it."""
    db.session.commit()
    cluster = db.session.get(Cluster, cluster_id)
    if cluster is None or cluster.cluster_type == CUSTOM:
        return None

    def create() -> Task:
        locked = _locked(cluster)
        if unfinished_task_of(cluster_id):
            raise _Nothing()
        live = live_now(cluster_id)
        count = plan(locked, live)
        if locked.max_size is not None:
            count = min(count, locked.max_size - live)
        if count <= 0:
            raise _Nothing()
        quota.check_expand(locked.org_id, count)
        return _new_task(locked, EXPAND, name, count, create_by="elastic-controller")
    try:
        return _accept(None, EXPAND, cluster, create)
    except (_Nothing, Conflict):
        db.session.rollback()
        return None


def system_shrink(cluster_id: int, name: str, choose) -> int | None:
    """Shrink started by the elastic controller: `choose(cluster, live)` returns the Instance rows
    to delete, under the cluster lock. None when the cluster is busy or nothing is chosen."""
    db.session.commit()
    cluster = db.session.get(Cluster, cluster_id)
    if cluster is None or cluster.cluster_type == CUSTOM:
        return None

    def create() -> Task:
        locked = _locked(cluster)
        if unfinished_task_of(cluster_id):
            raise _Nothing()
        victims = choose(locked, live_now(cluster_id))
        if not victims:
            raise _Nothing()
        task = _new_task(locked, SHRINK, name, len(victims), create_by="elastic-controller")
        db.session.execute(update(Instance).where(Instance.id.in_([v.id for v in victims]),
                                                  Instance.status.in_((PENDING, RUNNING)))
                           .values(status=DELETING, delete_task_id=task.id))
        return task
    try:
        return _accept(None, SHRINK, cluster, create)
    except (_Nothing, Conflict):
        db.session.rollback()
        return None


def shrink(body: dict, all_instances: bool = False, idempotency_key: str | None = None) -> int:
    """Choose the machines now (deterministically), mark them, then let a worker delete them.

    By IPs: each must be a live machine of the cluster (inner IP), else 400 listing the unknown
    ones. By count: not-yet-running machines go first, then the cluster's termination policy
    (default: the newest; ties by id, newest first); scale-in protected machines are never
    chosen by count. On an elastic cluster the result must stay within min/max and moves desired.
    """
    cluster = _cluster(body["cluster_name"])
    return _accept(idempotency_key, SHRINK, cluster, lambda: _choose_and_mark(cluster, body, all_instances))


def _choose_and_mark(cluster: Cluster, body: dict, all_instances: bool) -> Task:
    cluster = _locked(cluster)
    alive = (Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, RUNNING)))
    live = select(Instance).where(*alive)
    if all_instances:
        # One UPDATE, not 50,000 rows loaded and named back by id (15 s of a 67 s shrink_all). No
        # machine can join meanwhile: the task row locks the cluster against other tasks.
        count = db.session.scalar(select(func.count()).where(*alive))
        if not count:
            raise ParamInvalid("cluster_name", "the cluster has no live instances")
        _move_desired(cluster, 0, "cluster_name")  # min holds here too
        task = _new_task(cluster, SHRINK, body.get("task_name") or "shrink_all", count)
        marked = db.session.execute(update(Instance).where(*alive).values(status=DELETING, delete_task_id=task.id))
        task.count, task.expect_count = marked.rowcount, task.expect_count + count - marked.rowcount
        return task
    if body.get("ips"):
        ips = body["ips"]
        victims = db.session.scalars(live.where(Instance.ip_inner.in_(ips))).all()
        unknown = sorted(set(ips) - {v.ip_inner for v in victims})
        if unknown:
            raise ParamInvalid("ips", "not live instances of this cluster: " + ", ".join(unknown))
    else:
        count = body["count"]
        victims = pick_victims(cluster, count)
        if len(victims) < count:
            raise ParamInvalid("count", f"the cluster has only {len(victims)} live instances"
                               " that are not scale-in protected")
    _move_desired(cluster, live_now(cluster.id) - len(victims),
                  "cluster_name" if all_instances else "ips" if body.get("ips") else "count")
    name = body.get("task_name") or "shrink_all"
    task = _new_task(cluster, SHRINK, name, len(victims), ips=body.get("ips"))
    db.session.execute(update(Instance).where(Instance.id.in_([v.id for v in victims]))
                       .values(status=DELETING, delete_task_id=task.id))
    return task


def _enqueue(task_id: int) -> None:
    """Hand the task to a worker (by task name: services never import workers/). If the broker is
    down the task stays INIT and the periodic resumer picks it up; the request still succeeds."""
    try:
        queue.enqueue("bridgx.scaling.run", task_id)
    except Exception:  # noqa: BLE001 - the resumer is the safety net
        log.exception("could not enqueue task %s; the resumer will start it", task_id)


def cancel(task_id: int) -> Task:
    """Ask an unfinished task to stop (a durable column the engine reads between batches).

    Machines already created stay in the cluster (running, billed, listed); a shrink's machines
    not yet deleted go back to the inventory. A task no worker has claimed yet closes here.
    Asking twice is harmless; a finished task is a 409.
    """
    task = get(task_id)
    if task.status in FINISHED:
        raise Conflict({"task_id": f"task {task.id} already finished ({task.status})"})
    who = principal().username
    with transaction():
        db.session.execute(update(Task).where(Task.id == task.id, Task.lock_cluster_id.is_not(None),
                                              Task.cancel_requested_at.is_(None))
                           .values(cancel_requested_at=utcnow(), cancel_by=who))
        closed = db.session.execute(update(Task).where(
            Task.id == task.id, Task.lock_cluster_id.is_not(None), Task.holder.is_(None), Task.status == INIT)
            .values(status=FAILED, fail_reason=f"cancelled by {who} before it started", success_num=0,
                    fail_num=Task.count, finished_at=utcnow(), lock_cluster_id=None)).rowcount
        if closed and task.action == SHRINK:
            scope = (Instance.delete_task_id == task.id, Instance.status == DELETING)
            db.session.execute(update(Instance).where(*scope, Instance.ip_inner.is_(None))
                               .values(status=PENDING, delete_task_id=None))
            db.session.execute(update(Instance).where(*scope).values(status=RUNNING, delete_task_id=None))
        if closed:
            task.after_count = db.session.scalar(select(func.count()).where(
                Instance.cluster_id == task.cluster_id, Instance.status.in_(LIVE)))
    db.session.refresh(task)
    if task.cancel_requested_at is None:  # it finished in the meantime
        raise Conflict({"task_id": f"task {task.id} already finished ({task.status})"})
    log.warning("task %s (cluster %s) cancel requested by %s%s", task.id, task.cluster_id, who,
                "; closed before any worker started it" if closed else "")
    return task


# ---------------------------------------------------------------- queries
def get(task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or task.org_id != org_id():
        raise NotFound({"task_id": "not found"})
    return task


def _tasks():
    return (select(Task, Cluster.name).join(Cluster, Cluster.id == Task.cluster_id)
            .where(Task.org_id == org_id()).order_by(Task.id.desc()))


def list_page(args: dict) -> dict:
    query = _tasks()
    if args.get("account"):
        query = query.join(CloudAccount, CloudAccount.id == Cluster.account_id).where(
            CloudAccount.account_key == args["account"])
    rows, pager = paginate(query, args, scalars=False)
    return {"task_list": [{"task_id": str(t.id), "task_name": t.task_name, "task_action": t.action,
                           "status": t.status, "task_status": t.status, "cluster_name": name,
                           "create_at": fmt(t.created_at), "execute_time": execute_seconds(t),
                           "start_at": fmt(t.started_at), "finish_at": fmt(t.finished_at)}
                          for t, name in rows], "pager": pager}


def execute_seconds(task: Task) -> int:
    """BridgX's `execute_time`: whole seconds from the request to the finish (or to now while it runs)."""
    return max(0, int(((task.finished_at or utcnow()) - task.created_at).total_seconds()))


def describe_all(args: dict) -> dict:
    """Filters as BridgX: `task_id` and `task_status` exact, `task_name` and `cluster_name` substrings."""
    query = _tasks()
    if args.get("task_id") is not None:
        query = query.where(Task.id == args["task_id"])
    if args.get("task_status"):
        query = query.where(Task.status == args["task_status"])
    for key, column in (("task_name", Task.task_name), ("cluster_name", Cluster.name)):
        if args.get(key):
            query = query.where(column.contains(args[key], autoescape=True))
    rows, pager = paginate(query, args, scalars=False)
    return {"task_list": [detail(t, name, batches=False) for t, name in rows], "pager": pager}


def detail(task: Task, cluster_name: str | None = None, batches: bool = True) -> dict:
    if cluster_name is None:
        cluster_name = db.session.get(Cluster, task.cluster_id).name
    running = task.status not in FINISHED
    in_flight = 0
    if running and task.action == EXPAND:
        in_flight = db.session.scalar(select(func.count()).where(Instance.task_id == task.id,
                                                                 Instance.status == PENDING))
    elif running:
        in_flight = db.session.scalar(select(func.count()).where(Instance.delete_task_id == task.id,
                                                                 Instance.status == DELETING))
    done = task.success_num + task.fail_num
    end = task.finished_at or (utcnow() if task.started_at else None)
    out = {
        "task_id": str(task.id), "task_name": task.task_name, "cluster_name": cluster_name,
        "task_status": task.status, "task_action": task.action, "fail_reason": task.fail_reason or "",
        "run_num": in_flight, "suspend_num": max(task.count - done - in_flight, 0) if running else 0,
        "success_num": task.success_num, "fail_num": task.fail_num, "total_num": task.count,
        "success_rate": f"{task.success_num / task.count:.2f}" if task.count else "0.00",
        "task_result": "", "execute_time": execute_seconds(task), "start_at": fmt(task.started_at),
        "finish_at": fmt(task.finished_at),
        "elapsed_seconds": round((end - task.started_at).total_seconds(), 3) if task.started_at else None,
        "before_instance_count": task.before_count, "after_instance_count": task.after_count,
        "expect_instance_count": task.expect_count, "create_at": fmt(task.created_at), "create_by": task.create_by,
        "last_error": task.last_error or "", "last_progress_at": fmt(task.last_progress_at),
        "waiting": bool(task.waiting_reason) and running,
        "waiting_reason": (task.waiting_reason or "") if running else "",
        "cancel_requested_at": fmt(task.cancel_requested_at), "cancel_by": task.cancel_by or "",
    }
    if batches:
        rows = db.session.scalars(select(TaskBatch).where(TaskBatch.task_id == task.id).order_by(TaskBatch.idx))
        out["batches"] = [{"index": b.idx, "count": b.count, "state": b.state,
                           "instances": len(b.instance_ids or []), "error": b.error or ""} for b in rows]
    return out


def instances_page(args: dict) -> dict:
    task = get(args["task_id"])
    column = Instance.task_id if task.action == EXPAND else Instance.delete_task_id
    query = select(Instance).where(column == task.id)
    if "instance_status" in args:
        query = query.where(Instance.status.in_(args["instance_status"]))
    rows, pager = paginate(query.order_by(Instance.id), args)
    return {"instance_list": [{"instance_id": i.instance_id, "ip_inner": i.ip_inner, "ip_outer": i.ip_outer,
                               "status": i.status, "create_at": fmt(i.created_at), "running_at": fmt(i.running_at),
                               "deleted_at": fmt(i.deleted_at), "startup_time": startup_seconds(i)}
                              for i in rows], "pager": pager}


def outcome(task_id: int) -> tuple[str, str]:
    """(status, one line) of a task, for the worker's Celery result (worker side: no tenancy)."""
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    line = f"task {task.id} {task.status}: {task.success_num} of {task.count}"
    return task.status, line + (f"; {task.fail_reason}" if task.fail_reason else "")


def count_tasks() -> int:
    return db.session.scalar(select(func.count()).select_from(Task).where(Task.org_id == org_id()))


def stale_tasks(stale_seconds: float, init_grace: float = 5.0) -> list[int]:
    """Unfinished tasks nobody is running: never claimed (after a grace period), or whose holder
    stopped heart-beating."""
    from datetime import timedelta
    now = utcnow()
    query = select(Task.id).where(Task.lock_cluster_id.is_not(None), or_(
        and_(Task.holder.is_(None), Task.created_at < now - timedelta(seconds=init_grace)),
        Task.heartbeat_at < now - timedelta(seconds=stale_seconds)))
    return list(db.session.scalars(query))

"""Scaling tasks: accept a request (one task per cluster at a time), then hand it to a worker."""
from __future__ import annotations

import logging

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import CloudAccount
from app.clusters import service as clusters
from app.clusters.models import Cluster
from app.core.db import transaction, utcnow
from app.core.errors import Conflict, NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, principal
from app.core.timefmt import fmt
from app.elastic.policy import pick_victims
from app.extensions import db
from app.instances.models import DELETING, LIVE, PENDING, Instance
from app.tasks.models import EXPAND, FINISHED, INIT, SHRINK, Task, TaskBatch

log = logging.getLogger(__name__)


def unfinished_task_of(cluster_id: int) -> Task | None:
    return db.session.scalar(select(Task).where(Task.lock_cluster_id == cluster_id))


def _cluster(name: str) -> Cluster:
    try:
        return clusters.get_by_name(name)
    except NotFound:
        raise ParamInvalid("cluster_name", f"no cluster named {name!r}")


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


def _locked(cluster: Cluster) -> Cluster:
    """The cluster row again, locked until commit (MySQL): desired/min/max change one at a time."""
    return db.session.scalar(select(Cluster).where(Cluster.id == cluster.id).with_for_update())


def live_now(cluster_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Instance.cluster_id == cluster_id,
                                                        Instance.status.in_((PENDING, "Running"))))


def _move_desired(cluster: Cluster, target: int, field: str) -> None:
    """min/max hold on every path; a manual change on an elastic cluster moves `desired`."""
    if cluster.max_size is not None and target > cluster.max_size:
        raise ParamInvalid(field, f"would make the cluster {target} machines, above its max {cluster.max_size}")
    if cluster.min_size is not None and target < cluster.min_size:
        raise ParamInvalid(field, f"would make the cluster {target} machines, below its min {cluster.min_size}")
    if cluster.desired is not None:
        cluster.desired = target


def expand(body: dict) -> int:
    cluster = _cluster(body["cluster_name"])
    with transaction():
        cluster = _locked(cluster)
        _move_desired(cluster, live_now(cluster.id) + body["count"], "count")
        task = _new_task(cluster, EXPAND, body["task_name"], body["count"])
    _enqueue(task.id)
    return task.id


def system_expand(cluster_id: int, name: str, plan) -> int | None:
    """Expand started by the elastic controller: `plan(cluster, live)` decides, under the cluster
    lock, how many to add (0: none); max is checked again here. None when the cluster is busy."""
    with transaction():
        cluster = db.session.scalar(select(Cluster).where(Cluster.id == cluster_id).with_for_update())
        if cluster is None or unfinished_task_of(cluster_id):
            return None
        live = live_now(cluster_id)
        count = plan(cluster, live)
        if cluster.max_size is not None:
            count = min(count, cluster.max_size - live)
        if count <= 0:
            return None
        try:
            task = _new_task(cluster, EXPAND, name, count, create_by="elastic-controller")
        except Conflict:
            return None
    _enqueue(task.id)
    return task.id


def system_shrink(cluster_id: int, name: str, choose) -> int | None:
    """Shrink started by the elastic controller: `choose(cluster, live)` returns the Instance rows
    to delete, under the cluster lock. None when the cluster is busy or nothing is chosen."""
    with transaction():
        cluster = db.session.scalar(select(Cluster).where(Cluster.id == cluster_id).with_for_update())
        if cluster is None or unfinished_task_of(cluster_id):
            return None
        victims = choose(cluster, live_now(cluster_id))
        if not victims:
            return None
        try:
            task = _new_task(cluster, SHRINK, name, len(victims), create_by="elastic-controller")
        except Conflict:
            return None
        db.session.execute(update(Instance).where(Instance.id.in_([v.id for v in victims]),
                                                  Instance.status.in_((PENDING, "Running")))
                           .values(status=DELETING, delete_task_id=task.id))
    _enqueue(task.id)
    return task.id


def shrink(body: dict, all_instances: bool = False) -> int:
    """Choose the machines now (deterministically), mark them, then let a worker delete them.

    By IPs: each must be a live machine of the cluster (inner IP), else 400 listing the unknown
    ones. By count: not-yet-running machines go first, then the cluster's termination policy
    (default: the newest; ties by id, newest first); scale-in protected machines are never
    chosen by count. On an elastic cluster the result must stay within min/max and moves desired.
    """
    cluster = _cluster(body["cluster_name"])
    with transaction():
        cluster = _locked(cluster)
        live = select(Instance).where(Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, "Running")))
        if all_instances:
            victims = db.session.scalars(live).all()
            if not victims:
                raise ParamInvalid("cluster_name", "the cluster has no live instances")
        elif body.get("ips"):
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
    _enqueue(task.id)
    return task.id


def _enqueue(task_id: int) -> None:
    """Hand the task to a worker. If the broker is down the task stays INIT and the periodic
    resumer picks it up; the request still succeeds with the task id."""
    from workers.tasks import run_scaling_task
    try:
        run_scaling_task.delay(task_id)
    except Exception:  # noqa: BLE001 - the resumer is the safety net
        log.exception("could not enqueue task %s; the resumer will start it", task_id)


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
                           "status": t.status, "cluster_name": name, "create_at": fmt(t.created_at),
                           "execute_time": fmt(t.started_at), "finish_at": fmt(t.finished_at)}
                          for t, name in rows], "pager": pager}


def describe_all(args: dict) -> dict:
    query = _tasks()
    for key, column in (("task_id", Task.id), ("task_name", Task.task_name), ("cluster_name", Cluster.name),
                        ("task_status", Task.status)):
        if args.get(key) is not None:
            query = query.where(column == args[key])
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
        "execute_time": fmt(task.started_at), "finish_at": fmt(task.finished_at),
        "elapsed_seconds": round((end - task.started_at).total_seconds(), 3) if task.started_at else None,
        "before_instance_count": task.before_count, "after_instance_count": task.after_count,
        "expect_instance_count": task.expect_count, "create_at": fmt(task.created_at), "create_by": task.create_by,
    }
    if batches:
        rows = db.session.scalars(select(TaskBatch).where(TaskBatch.task_id == task.id).order_by(TaskBatch.idx))
        out["batches"] = [{"index": b.idx, "count": b.count, "state": b.state,
                           "instances": len(b.instance_ids or []), "error": b.error or ""} for b in rows]
    return out


def instances_page(args: dict) -> dict:
    task = get(args["task_id"])
    column = Instance.task_id if task.action == EXPAND else Instance.delete_task_id
    rows, pager = paginate(select(Instance).where(column == task.id).order_by(Instance.id), args)
    return {"instance_list": [{"instance_id": i.instance_id, "ip_inner": i.ip_inner, "ip_outer": i.ip_outer,
                               "status": i.status, "create_at": fmt(i.created_at), "running_at": fmt(i.running_at),
                               "deleted_at": fmt(i.deleted_at)} for i in rows], "pager": pager}


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

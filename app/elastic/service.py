"""Elastic clusters through the API: desired/min/max, policy, protection, schedules, history."""
from __future__ import annotations

from sqlalchemy import func, select, update

from app.clusters import service as clusters
from app.clusters.models import CUSTOM, Cluster
from app.core.db import transaction, utcnow
from app.core.errors import Conflict, NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id
from app.core.timefmt import fmt
from app.elastic import policy, schedules
from app.elastic.models import MachineReplacement, ScalingSchedule
from app.extensions import db
from app.instances.models import PENDING, RUNNING, Instance
from app.tasks.service import unfinished_task_of


def _cluster(name: str, lock: bool = False) -> Cluster:
    try:
        cluster = clusters.get_by_name(name, lock=lock)
    except NotFound:
        raise ParamInvalid("cluster_name", f"no cluster named {name!r}")
    if cluster.cluster_type == CUSTOM:
        raise ParamInvalid("cluster_name", "a custom cluster of existing machines is not elastic")
    return cluster


def status(name: str) -> dict:
    cluster = _cluster(name)
    counts = dict(db.session.execute(select(Instance.status, func.count()).where(
        Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, RUNNING))).group_by(Instance.status)).all())
    protected = db.session.scalar(select(func.count()).where(
        Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, RUNNING)), Instance.protected.is_(True)))
    task = unfinished_task_of(cluster.id)
    return {"cluster_name": cluster.name, "desired": cluster.desired, "min": cluster.min_size,
            "max": cluster.max_size, "live": sum(counts.values()), "running": counts.get(RUNNING, 0),
            "protected": protected, "unfinished_task_id": str(task.id) if task else None,
            "policy": policy.settings(cluster)}


def set_capacity(body: dict) -> dict:
    """min ≤ desired ≤ max after the change, else 400 naming the field; nothing is half-written.
    `desired: null` hands the cluster back to manual scaling (min/max still hold)."""
    with transaction():
        cluster = _cluster(body["cluster_name"], lock=True)
        lo = body["min"] if "min" in body else cluster.min_size
        hi = body["max"] if "max" in body else cluster.max_size
        want = body["desired"] if "desired" in body else cluster.desired
        if lo is not None and hi is not None and lo > hi:
            raise ParamInvalid("min", f"must not be above max ({hi})")
        if want is not None and hi is not None and want > hi:
            raise ParamInvalid("desired" if "desired" in body else "max", f"desired {want} would be above max {hi}")
        if want is not None and lo is not None and want < lo:
            raise ParamInvalid("desired" if "desired" in body else "min", f"desired {want} would be below min {lo}")
        cluster.min_size, cluster.max_size, cluster.desired = lo, hi, want
    return status(cluster.name)


def set_policy(body: dict) -> dict:
    with transaction():
        cluster = _cluster(body["cluster_name"], lock=True)
        current = dict(cluster.elastic or {})
        for key in policy.DEFAULTS:
            if key in body:
                current[key] = body[key]
        for i, p in enumerate(current.get("fallbacks") or []):
            if p["zone_id"] == cluster.zone_id and p["instance_type"] == cluster.instance_type \
                    and p["subnet_id"] == cluster.network_config["subnet_id"]:
                raise ParamInvalid(f"fallbacks.{i}", "repeats the cluster's own zone, subnet and type")
        cluster.elastic = current
    return status(cluster.name)


def protect(body: dict) -> dict:
    with transaction():
        cluster = _cluster(body["cluster_name"])
        ids = list(dict.fromkeys(body["instance_ids"]))
        rows = db.session.scalars(select(Instance.id).where(
            Instance.cluster_id == cluster.id, Instance.status.in_((PENDING, RUNNING)),
            Instance.instance_id.in_(ids))).all()
        found = set(db.session.scalars(select(Instance.instance_id).where(Instance.id.in_(rows))))
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise ParamInvalid("instance_ids", "not live instances of this cluster: " + ", ".join(unknown[:20]))
        db.session.execute(update(Instance).where(Instance.id.in_(rows)).values(protected=body["protected"]))
    return status(cluster.name)


def replacements_page(args: dict) -> dict:
    cluster = _cluster(args["cluster_name"])
    rows, pager = paginate(select(MachineReplacement).where(MachineReplacement.cluster_id == cluster.id)
                           .order_by(MachineReplacement.id.desc()), args)
    return {"replacement_list": [{"instance_id": r.instance_id, "reason": r.reason, "detail": r.detail,
                                  "detected_at": fmt(r.detected_at)} for r in rows], "pager": pager}


# ---------------------------------------------------------------- schedules
def _schedule(schedule_id: int) -> ScalingSchedule:
    s = db.session.get(ScalingSchedule, schedule_id)
    if s is None or s.org_id != org_id():
        raise NotFound({"schedule_id": "not found"})
    return s


def schedule_out(s: ScalingSchedule, cluster_name: str | None = None) -> dict:
    if cluster_name is None:
        cluster_name = db.session.get(Cluster, s.cluster_id).name
    nxt = schedules.next_slot(s.cron, s.timezone, utcnow()) if s.enabled else None
    return {"schedule_id": s.id, "cluster_name": cluster_name, "name": s.name, "cron": s.cron, "timezone": s.timezone,
            "desired": s.desired, "min": s.min_size, "max": s.max_size, "enabled": s.enabled,
            "next_run": fmt(nxt) if nxt else None, "last_run": fmt(s.last_slot) if s.last_slot else None,
            "last_result": s.last_result}


def _check_sizes(cluster: Cluster, s: ScalingSchedule) -> None:
    lo = s.min_size if s.min_size is not None else cluster.min_size
    hi = s.max_size if s.max_size is not None else cluster.max_size
    if lo is not None and hi is not None and lo > hi:
        raise ParamInvalid("min", f"min {lo} would be above max {hi} when the schedule runs")


def create_schedule(body: dict) -> dict:
    with transaction():
        cluster = _cluster(body["cluster_name"])
        if db.session.scalar(select(ScalingSchedule).where(ScalingSchedule.cluster_id == cluster.id,
                                                           ScalingSchedule.name == body["name"])):
            raise Conflict({"name": f"the cluster already has a schedule named {body['name']!r}"})
        s = ScalingSchedule(org_id=cluster.org_id, cluster_id=cluster.id, name=body["name"], cron=body["cron"],
                            timezone=body["timezone"], desired=body.get("desired"), min_size=body.get("min"),
                            max_size=body.get("max"), enabled=body.get("enabled", True),
                            last_slot=schedules.minute(utcnow()), last_result="")
        _check_sizes(cluster, s)
        db.session.add(s)
    return schedule_out(s, cluster.name)


def edit_schedule(body: dict) -> dict:
    with transaction():
        s = _schedule(body["schedule_id"])
        cluster = db.session.get(Cluster, s.cluster_id)
        if "name" in body and body["name"] != s.name and db.session.scalar(select(ScalingSchedule).where(
                ScalingSchedule.cluster_id == s.cluster_id, ScalingSchedule.name == body["name"])):
            raise Conflict({"name": f"the cluster already has a schedule named {body['name']!r}"})
        for key, attr in (("name", "name"), ("cron", "cron"), ("timezone", "timezone"), ("desired", "desired"),
                          ("min", "min_size"), ("max", "max_size"), ("enabled", "enabled")):
            if key in body:
                setattr(s, attr, body[key])
        if s.desired is None and s.min_size is None and s.max_size is None:
            raise ParamInvalid("desired", "a schedule sets at least one of desired, min, max")
        _check_sizes(cluster, s)
        s.last_slot = max(s.last_slot or schedules.minute(utcnow()), schedules.minute(utcnow()))
    return schedule_out(s, cluster.name)


def delete_schedule(schedule_id: int) -> None:
    with transaction():
        db.session.delete(_schedule(schedule_id))


def schedules_page(args: dict) -> dict:
    query = select(ScalingSchedule, Cluster.name).join(Cluster, Cluster.id == ScalingSchedule.cluster_id).where(
        ScalingSchedule.org_id == org_id(), Cluster.deleted_id == 0)
    if args.get("cluster_name"):
        query = query.where(Cluster.name == args["cluster_name"])
    rows, pager = paginate(query.order_by(ScalingSchedule.id), args, scalars=False)
    return {"schedule_list": [schedule_out(s, name) for s, name in rows], "pager": pager}

"""Inventory queries: only the caller's organisation's instances, newest first."""
from __future__ import annotations

from sqlalchemy import func, or_, select

from app.accounts.models import CloudAccount
from app.clusters.models import Cluster
from app.core.errors import NotFound, ParamInvalid
from app.core.tenancy import org_id
from app.core.timefmt import fmt
from app.extensions import db
from app.instances.models import LIVE, RUNNING, Instance

NEWEST_FIRST = (Instance.created_at.desc(), Instance.id.desc())
SUMMARY_COLUMNS = (Instance.id, Instance.cluster_id, Instance.instance_id, Instance.ip_inner, Instance.ip_outer,
                   Instance.provider, Instance.created_at, Instance.running_at, Instance.status, Instance.instance_type)
CLUSTER_COLUMNS = (Cluster.id, Cluster.name, Cluster.cluster_type, Cluster.password_encrypted, Cluster.charge_config,
                   Cluster.extend_config)  # what bridgx_keys reads


def live_count_by_cluster(cluster_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Instance.cluster_id == cluster_id,
                                                        Instance.status.in_(LIVE)))


def cluster_ids_named(name: str, field: str = "cluster_name") -> list[int]:
    """Ids of the caller's clusters called `name`, deleted ones included (their machines and
    bills outlive the template); 400 naming `field` when there is none."""
    ids = db.session.scalars(select(Cluster.id).where(Cluster.org_id == org_id(), Cluster.name == name)).all()
    if not ids:
        raise ParamInvalid(field, f"no cluster named {name!r}")
    return list(ids)


def _account_ids(account_key: str) -> list[int]:
    return list(db.session.scalars(select(CloudAccount.id).where(
        CloudAccount.org_id == org_id(), CloudAccount.account_key == account_key)).all())


def _filters(args: dict) -> list:
    """WHERE clauses for the inventory filters; an unknown account simply matches nothing.
    Cluster and account ids are the caller's own, so with them no org clause is needed (and the
    planner goes straight to the cluster/account index)."""
    where = []
    if args.get("cluster_name"):
        where.append(Instance.cluster_id.in_(cluster_ids_named(args["cluster_name"])))
    if args.get("account"):
        where.append(Instance.account_id.in_(_account_ids(args["account"])))
    if not where:
        where.append(Instance.org_id == org_id())
    if args.get("instance_id"):
        where.append(Instance.instance_id == args["instance_id"])
    if args.get("ip"):
        where.append(or_(Instance.ip_inner == args["ip"], Instance.ip_outer == args["ip"]))
    if args.get("provider"):
        where.append(Instance.provider == args["provider"])
    if "status" in args:  # BridgX's UNDEFINED alone is [] and matches nothing
        where.append(Instance.status.in_(args["status"]))
    return where


def startup_seconds(inst: Instance) -> int:
    """Boot latency: running_at − created_at in whole seconds, 0 until it runs."""
    if inst.running_at is None:
        return 0
    return max(0, int((inst.running_at - inst.created_at).total_seconds()))


def list_page(args: dict) -> dict:
    where = _filters(args)
    number, size = args["page_number"], args["page_size"]
    total = db.session.scalar(select(func.count()).select_from(Instance).where(*where))
    # The page's ids first (index-only on most filters) in a derived table, then only the columns
    # shown of just those rows, in one round trip; each cluster once (its JSON not once per machine).
    page = select(Instance.id).where(*where).order_by(*NEWEST_FIRST).limit(size).offset((number - 1) * size).subquery()
    rows = db.session.execute(select(*SUMMARY_COLUMNS).join(page, page.c.id == Instance.id)
                              .order_by(*NEWEST_FIRST)).all()
    clusters = {c.id: (c.name, bridgx_keys(c)) for c in db.session.execute(
        select(*CLUSTER_COLUMNS).where(Cluster.id.in_({r.cluster_id for r in rows})))} if rows else {}
    return {"instance_list": [{"instance_id": r.instance_id, "ip_inner": r.ip_inner or "", "ip_outer": r.ip_outer or "",
                               "provider": r.provider, "create_at": fmt(r.created_at), "status": r.status,
                               "startup_time": startup_seconds(r), "cluster_name": clusters[r.cluster_id][0],
                               "instance_type": r.instance_type, **clusters[r.cluster_id][1]}
                              for r in rows],
            "pager": {"page_number": number, "page_size": size, "total": total}}


def bridgx_keys(cluster: Cluster) -> dict:
    """What ComandX also reads of a machine. The login password is the cluster's, which is never
    returned: "******" says there is one."""
    return {"cluster_type": cluster.cluster_type, "login_name": "root",
            "login_password": "******" if cluster.password_encrypted else "",
            "charge_type": (cluster.charge_config or {}).get("charge_type", ""),
            "computing_power_type": ((getattr(cluster, "extend_config", None) or {}).get("cpu_type") or "")}


def get(instance_id: str) -> Instance:
    """The caller's instance with this cloud id (the newest, should two clouds share one); else 404."""
    inst = db.session.scalar(select(Instance).where(Instance.org_id == org_id(), Instance.instance_id == instance_id)
                             .order_by(*NEWEST_FIRST).limit(1))
    if inst is None:
        raise NotFound({"instance_id": "not found"})
    return inst


def detail(inst: Instance) -> dict:
    """The instance with the storage and network its cluster template gave it."""
    cluster = db.session.get(Cluster, inst.cluster_id)
    disks = (cluster.disks if cluster else None) or {}
    system = disks.get("system_disk") or {}
    data = [{"data_disk_type": d.get("category", ""), "data_disk_size": d.get("size", 0)}
            for d in disks.get("data_disk") or []]
    network = (cluster.network_config if cluster else None) or {}
    return {"instance_id": inst.instance_id, "provider": inst.provider, "region_id": inst.region_id,
            "image_id": inst.image_id, "instance_type": inst.instance_type, "ip_inner": inst.ip_inner or "",
            "ip_outer": inst.ip_outer or "", "create_at": fmt(inst.created_at),
            "storage_config": {"system_disk_type": system.get("category", ""),
                               "system_disk_size": system.get("size", 0),
                               "data_disks": data, "data_disk_num": len(data)},
            "network_config": {"vpc_name": network.get("vpc", ""), "subnet_id_name": network.get("subnet_id", ""),
                               "security_group_name": network.get("security_group", "")}}


def running_count(args: dict) -> int:
    """Instances in status Running, optionally of one account (key) and/or one cluster (name)."""
    return db.session.scalar(select(func.count()).select_from(Instance).where(
        *_filters({**args, "status": [RUNNING]})))

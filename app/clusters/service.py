"""Cluster templates: one organisation's names are unique; passwords encrypted, never returned."""
from __future__ import annotations

from sqlalchemy import select

from app.accounts import service as accounts
from app.accounts.models import CloudAccount
from app.clusters.models import CUSTOM, Cluster
from app.core.crypto import encrypt
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, owned, principal
from app.core.timefmt import fmt
from app.extensions import db

TEMPLATE_FIELDS = ("provider", "region_id", "zone_id", "instance_type", "image", "network_config", "disks", "desc", "tags")


def live_clusters():
    return select(Cluster).where(Cluster.org_id == org_id(), Cluster.deleted_id == 0)


def get(cluster_id: int) -> Cluster:
    return owned(db.session.get(Cluster, cluster_id), "cluster_id")


def get_by_name(name: str, field: str = "cluster_name", lock: bool = False) -> Cluster:
    query = live_clusters().where(Cluster.name == name)
    if lock:
        query = query.with_for_update()
    cluster = db.session.scalar(query)
    if cluster is None:
        raise NotFound({field: f"no cluster named {name!r}"})
    return cluster


def _charge(body: dict, current: dict | None) -> dict:
    charge = body.get("charge_config")
    if charge is None and body.get("charge_type"):
        charge = {"charge_type": body["charge_type"]}
    charge = charge or current or {"charge_type": "PostPaid"}
    if charge["charge_type"] == "PrePaid" and not charge.get("period_unit"):
        raise ParamInvalid("charge_config.period_unit", "required when charge_type is PrePaid")
    return charge


def _account(provider: str, account_key: str) -> CloudAccount:
    acc = accounts.find_by_key(account_key, provider)
    if acc is None:
        raise ParamInvalid("account_key", f"no {provider} account with this key in your organisation")
    return acc


def _tags(value):
    if isinstance(value, list):
        return {t["key"]: t["value"] for t in value}
    return value


def create(body: dict) -> Cluster:
    acc = _account(body["provider"], body["account_key"])
    with transaction():
        if db.session.scalar(live_clusters().where(Cluster.name == body["name"])):
            raise Conflict({"name": f"a cluster named {body['name']!r} already exists"})
        cluster = Cluster(org_id=org_id(), account_id=acc.id, name=body["name"],
                          charge_config=_charge(body, None), password_encrypted=encrypt(body["password"]),
                          create_by=principal().username)
        for key in TEMPLATE_FIELDS:
            setattr(cluster, key, _tags(body.get(key)) if key == "tags" else body.get(key, "" if key == "desc" else None))
        cluster.desc = cluster.desc or ""
        db.session.add(cluster)
    return cluster


def edit(body: dict) -> Cluster:
    from app.tasks.service import unfinished_task_of
    with transaction():
        cluster = get(body["cluster_id"]) if "cluster_id" in body else get_by_name(body["name"], "name")
        if cluster.cluster_type == CUSTOM:
            raise ParamInvalid("name", "a custom cluster of existing machines has no template to edit")
        if unfinished_task_of(cluster.id):
            raise Conflict({"cluster_id": "the cluster has an unfinished scaling task"})
        if "name" in body and "cluster_id" in body and body["name"] != cluster.name:
            if db.session.scalar(live_clusters().where(Cluster.name == body["name"])):
                raise Conflict({"name": f"a cluster named {body['name']!r} already exists"})
            cluster.name = body["name"]
        provider = body.get("provider", cluster.provider)
        if "account_key" in body or provider != cluster.provider:
            key = body.get("account_key") or db.session.get(CloudAccount, cluster.account_id).account_key
            cluster.account_id = _account(provider, key).id
        for key in TEMPLATE_FIELDS:
            if key in body:
                setattr(cluster, key, _tags(body[key]) if key == "tags" else body[key])
        if "charge_config" in body or "charge_type" in body:
            cluster.charge_config = _charge(body, cluster.charge_config)
        if "password" in body:
            cluster.password_encrypted = encrypt(body["password"])
        cluster.desc = cluster.desc or ""
    return cluster


def delete(ids: list[int]) -> None:
    """Delete templates; 409 (nothing deleted) while one has live machines or an unfinished task."""
    from app.instances.service import live_count_by_cluster
    from app.tasks.service import unfinished_task_of
    with transaction():
        clusters = [get(i) for i in ids]
        for cluster in clusters:
            if unfinished_task_of(cluster.id):
                raise Conflict({"ids": f"cluster {cluster.name!r} has an unfinished scaling task"})
            live = live_count_by_cluster(cluster.id)
            if live:
                raise Conflict({"ids": f"cluster {cluster.name!r} still has {live} live instances"})
        for cluster in clusters:
            cluster.deleted_id = cluster.id


def list_page(args: dict) -> dict:
    query = select(Cluster, CloudAccount.account_key).join(CloudAccount, CloudAccount.id == Cluster.account_id).where(
        Cluster.org_id == org_id(), Cluster.deleted_id == 0)
    if args.get("account"):
        query = query.where(CloudAccount.account_key == args["account"])
    rows, pager = paginate(query.order_by(Cluster.id.desc()), args, scalars=False)
    return {"cluster_list": [{"cluster_id": str(c.id), "cluster_name": c.name, "provider": c.provider,
                              "account": key, "create_at": fmt(c.created_at), "create_by": c.create_by}
                             for c, key in rows],
            "pager": pager}


def detail(cluster: Cluster) -> dict:
    acc = db.session.get(CloudAccount, cluster.account_id) if cluster.account_id else None
    out = {key: getattr(cluster, key) for key in TEMPLATE_FIELDS}
    out.update(id=cluster.id, name=cluster.name, account_key=acc.account_key if acc else "", charge_config=cluster.charge_config,
               create_at=fmt(cluster.created_at), create_by=cluster.create_by, update_at=fmt(cluster.updated_at))
    return out

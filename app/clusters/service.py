"""Cluster templates: one organisation's names are unique; passwords encrypted, never returned."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import load_only

from app.accounts import service as accounts
from app.accounts.models import CloudAccount
from app.catalog.known import check_known
from app.catalog.models import CatalogEntry
from app.clusters.models import CUSTOM, Cluster
from app.core.crypto import encrypt
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, owned, principal
from app.core.timefmt import fmt
from app.custom.models import CustomMachine
from app.extensions import db
from app.instances.models import LIVE, Instance
from app.tasks.models import Task

TEMPLATE_FIELDS = ("provider", "region_id", "zone_id", "instance_type", "image", "network_config", "disks", "desc", "tags")
PRIVATE_CLOUD = "PrivateCloud"  # BridgX's provider of custom clusters of one's own machines
BRIDGX_FIELDS = ("image_config", "extend_config", "storage_options")  # BridgX's, kept to be shown back



def _unfinished_task(cluster_id: int) -> int | None:
    """The id of the cluster's unfinished scaling task (it holds the cluster's lock), if any."""
    return db.session.scalar(select(Task.id).where(Task.lock_cluster_id == cluster_id))


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


# prepaid periods one cloud sells beyond Week 1-4 and Month 1-9, 12, 24, 36, 48, 60
EXTRA_PERIODS = {"HuaweiCloud": {"Year": (1, 2, 3)}, "BaiduCloud": {"Year": (1, 2, 3)},
                 "TencentCloud": {"Month": (10, 11)}}
COMMON_PERIODS = {"Week": (1, 2, 3, 4), "Month": (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60)}


def _charge(body: dict, current: dict | None, provider: str) -> dict:
    charge = body.get("charge_config")
    if charge is None and body.get("charge_type"):
        charge = {"charge_type": body["charge_type"]}
    charge = charge or current or {"charge_type": "PostPaid"}
    if charge["charge_type"] == "PrePaid":
        unit = charge.get("period_unit")
        if not unit:
            raise ParamInvalid("charge_config.period_unit", "required when charge_type is PrePaid")
        sold = COMMON_PERIODS.get(unit, ()) + EXTRA_PERIODS.get(provider, {}).get(unit, ())
        if not sold:
            raise ParamInvalid("charge_config.period_unit", f"{provider} does not sell period_unit {unit}")
        if charge.get("period") not in sold:
            raise ParamInvalid("charge_config.period", f"{provider} sells period_unit {unit} with period "
                                                       f"one of {sorted(sold)}")
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
    check_known(acc.id, body["region_id"], body["zone_id"])
    with transaction():
        if db.session.scalar(live_clusters().where(Cluster.name == body["name"])):
            raise Conflict({"name": f"a cluster named {body['name']!r} already exists"})
        cluster = Cluster(org_id=org_id(), account_id=acc.id, name=body["name"],
                          charge_config=_charge(body, None, body["provider"]), password_encrypted=encrypt(body["password"]),
                          create_by=principal().username, update_by=principal().username)
        for key in TEMPLATE_FIELDS + BRIDGX_FIELDS:
            setattr(cluster, key, _tags(body.get(key)) if key == "tags" else body.get(key, "" if key == "desc" else None))
        cluster.desc = cluster.desc or ""
        db.session.add(cluster)
    return cluster


def edit(body: dict) -> Cluster:
    with transaction():
        cluster = get(body["cluster_id"]) if "cluster_id" in body else get_by_name(body["name"], "name")
        if cluster.cluster_type == CUSTOM:
            raise ParamInvalid("name", "a custom cluster of existing machines has no template to edit")
        if _unfinished_task(cluster.id):
            raise Conflict({"cluster_id": "the cluster has an unfinished scaling task"})
        if "name" in body and "cluster_id" in body and body["name"] != cluster.name:
            if db.session.scalar(live_clusters().where(Cluster.name == body["name"])):
                raise Conflict({"name": f"a cluster named {body['name']!r} already exists"})
            cluster.name = body["name"]
        provider = body.get("provider", cluster.provider)
        provider_changed = provider != cluster.provider
        if "account_key" in body or provider_changed:
            key = body.get("account_key") or db.session.get(CloudAccount, cluster.account_id).account_key
            cluster.account_id = _account(provider, key).id
        for key in TEMPLATE_FIELDS + BRIDGX_FIELDS:
            if key in body:
                setattr(cluster, key, _tags(body[key]) if key == "tags" else body[key])
        if "image" in body and "image_config" not in body and (cluster.image_config or {}).get("id") != body["image"]:
            cluster.image_config = None  # described another image
        if "instance_type" in body and "extend_config" not in body:
            cluster.extend_config = None  # described another instance type
        cluster.update_by = principal().username
        if "charge_config" in body or "charge_type" in body or provider_changed:
            cluster.charge_config = _charge(body, cluster.charge_config, provider)
        if "password" in body:
            cluster.password_encrypted = encrypt(body["password"])
        cluster.desc = cluster.desc or ""
        if {"region_id", "zone_id", "account_key", "provider"} & body.keys():
            check_known(cluster.account_id, cluster.region_id, cluster.zone_id)
    return cluster


def delete(ids: list[int]) -> None:
    """Delete templates; 409 (nothing deleted) while one has live machines or an unfinished task."""
    from app.instances.service import live_count_by_cluster
    with transaction():
        clusters = [get(i) for i in ids]
        for cluster in clusters:
            if _unfinished_task(cluster.id):
                raise Conflict({"ids": f"cluster {cluster.name!r} has an unfinished scaling task"})
            live = live_count_by_cluster(cluster.id)
            if live:
                raise Conflict({"ids": f"cluster {cluster.name!r} still has {live} live instances"})
        for cluster in clusters:
            cluster.deleted_id = cluster.id


def _usage():
    """The cluster's `usage` tag (BridgX's default "unused"), as an SQL expression."""
    return func.coalesce(Cluster.tags["usage"].as_string(), "unused")


def _filtered(args: dict):
    """The caller's live clusters with their access key, filtered as BridgX's list filters:
    `cluster_name` and `usage` are substrings, `provider` exact (none given: PrivateCloud is left
    out, it has its own page), `cluster_type` exact, `account` one key (not for custom clusters)."""
    query = select(Cluster, CloudAccount.account_key).outerjoin(CloudAccount, CloudAccount.id == Cluster.account_id) \
        .where(Cluster.org_id == org_id(), Cluster.deleted_id == 0)
    if args.get("account") and args.get("cluster_type") != "custom":
        query = query.where(CloudAccount.account_key == args["account"])
    if args.get("cluster_name"):
        query = query.where(Cluster.name.contains(args["cluster_name"], autoescape=True))
    if args.get("provider"):
        query = query.where(Cluster.provider == args["provider"])
    else:
        query = query.where(Cluster.provider != PRIVATE_CLOUD)
    if args.get("cluster_type"):
        query = query.where(Cluster.cluster_type == args["cluster_type"])
    if args.get("usage"):
        query = query.where(_usage().contains(args["usage"], autoescape=True))
    return query


def _live_counts(ids: list[int], custom_ids: list[int] = ()) -> dict[int, int]:
    """{cluster id: machines not deleted}: what BridgX shows as a cluster's instance_count; the
    existing machines of the custom clusters among them (`custom_ids`) count too."""
    rows = db.session.execute(select(Instance.cluster_id, func.count()).where(
        Instance.cluster_id.in_(ids), Instance.status.in_(LIVE)).group_by(Instance.cluster_id)).all() if ids else []
    custom = db.session.execute(select(CustomMachine.cluster_id, func.count()).where(
        CustomMachine.cluster_id.in_(custom_ids)).group_by(CustomMachine.cluster_id)).all() if custom_ids else []
    return dict(rows) | dict(custom)


def _number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def extend_config(cluster: Cluster, cache: dict | None = None) -> dict:
    """{core, memory, cpu_type}: as given at create/edit, else the instance type's from the catalogue
    cache (no cloud call), else zeros as BridgX answers."""
    given = cluster.extend_config or {}
    core, memory = given.get("core") or 0, given.get("memory") or 0
    if not core and cluster.account_id:
        key = (cluster.account_id, cluster.region_id, cluster.zone_id)
        if cache is None or key not in cache:
            entry = db.session.scalar(select(CatalogEntry.items).where(
                CatalogEntry.account_id == key[0], CatalogEntry.kind == "instance_types",
                CatalogEntry.region_id == key[1], CatalogEntry.zone_id == key[2]))
            found = {item["instance_type"]: item for item in entry or []}
            if cache is None:
                cache = {}
            cache[key] = found
        item = cache[key].get(cluster.instance_type) or {}
        core, memory = item.get("core") or 0, item.get("memory") or 0
    return {"core": int(core), "memory": _number(memory), "cpu_type": given.get("cpu_type") or ""}


def type_desc(cluster: Cluster, ext: dict) -> str:
    """BridgX's `"<core>核<memory>G(<instance type>)"`; "" for a custom cluster."""
    if cluster.cluster_type == "custom" or not cluster.instance_type:
        return ""
    if not ext["core"]:
        return cluster.instance_type
    return f"{ext['core']}核{ext['memory']}G({cluster.instance_type})"


# What a list row shows: the template's network, disks, image and elastic settings are not read here.
LIST_COLUMNS = load_only(Cluster.id, Cluster.name, Cluster.provider, Cluster.account_id, Cluster.region_id,
                         Cluster.zone_id, Cluster.instance_type, Cluster.created_at, Cluster.create_by,
                         Cluster.updated_at, Cluster.update_by, Cluster.cluster_type, Cluster.charge_config,
                         Cluster.tags, Cluster.desc, Cluster.extend_config, raiseload=True)


def list_page(args: dict) -> dict:
    """The manual's keys plus what ComandX's list pages read."""
    rows, pager = paginate(_filtered(args).options(LIST_COLUMNS).order_by(Cluster.id.desc()), args, scalars=False)
    counts = _live_counts([c.id for c, _ in rows], [c.id for c, _ in rows if c.cluster_type == CUSTOM])
    cache, out = {}, []
    for c, key in rows:
        ext = extend_config(c, cache)
        out.append({"cluster_id": str(c.id), "cluster_name": c.name, "provider": c.provider, "account": key or "",
                    "create_at": fmt(c.created_at), "create_by": c.create_by,
                    "instance_count": counts.get(c.id, 0), "instance_type": type_desc(c, ext),
                    "charge_type": (c.charge_config or {}).get("charge_type", ""), "usage": _usage_of(c),
                    "extend_config": ext, "cluster_type": c.cluster_type, "desc": c.desc or "",
                    "update_at": fmt(c.updated_at), "update_by": c.update_by or c.create_by})
    return {"cluster_list": out, "pager": pager}


def _usage_of(cluster: Cluster) -> str:
    tags = cluster.tags if isinstance(cluster.tags, dict) else {}
    return tags.get("usage") or "unused"


def count(account: str | None) -> int:
    """The caller's live clusters on a cloud account (or on the one with this access key)."""
    query = select(func.count()).select_from(Cluster).join(CloudAccount, CloudAccount.id == Cluster.account_id).where(
        Cluster.org_id == org_id(), Cluster.deleted_id == 0)
    if account:
        query = query.where(CloudAccount.account_key == account)
    return db.session.scalar(query)


def instance_stat(name: str) -> dict:
    cluster = get_by_name(name)
    return {"instance_type_desc": type_desc(cluster, extend_config(cluster)),
            "instance_count": _live_counts([cluster.id], [cluster.id] * (cluster.cluster_type == CUSTOM)
                                           ).get(cluster.id, 0)}


def detail(cluster: Cluster) -> dict:
    """The manual's keys, and BridgX's shape beside them (never the instance password)."""
    acc = db.session.get(CloudAccount, cluster.account_id) if cluster.account_id else None
    out = {key: getattr(cluster, key) for key in TEMPLATE_FIELDS}
    out.update(id=cluster.id, name=cluster.name, account_key=acc.account_key if acc else "",
               charge_config=cluster.charge_config, create_at=fmt(cluster.created_at), create_by=cluster.create_by,
               update_at=fmt(cluster.updated_at))
    image = dict(cluster.image_config or {})
    disks = cluster.disks or {}
    out.update(
        cluster_type=cluster.cluster_type, username="root", update_by=cluster.update_by or cluster.create_by,
        image_config={"id": image.get("id") or cluster.image or "", "name": image.get("name") or cluster.image or "",
                      "type": image.get("type") or "", "platform": image.get("platform") or "",
                      "size": image.get("size") or 0},
        storage_config={"disks": {"system_disk": disks.get("system_disk"), "data_disk": disks.get("data_disk") or []}
                        if disks else None,
                        "mount_point": (cluster.storage_options or {}).get("mount_point", ""),
                        "nas": (cluster.storage_options or {}).get("nas", "")},
        extend_config=extend_config(cluster))
    return out

"""Custom clusters: a cluster row of type `custom` (no template) plus its existing machines."""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import func, select

from app.accounts import service as accounts
from app.accounts.models import CloudAccount
from app.clusters.models import CUSTOM, Cluster
from app.core.crypto import encrypt
from app.core.db import transaction
from app.core.errors import Conflict, NotFound, ParamInvalid
from app.core.paging import paginate
from app.core.tenancy import org_id, principal
from app.custom import ssh
from app.custom.models import CustomMachine
from app.extensions import db

log = logging.getLogger(__name__)
PRIVATE_CLOUD = "PrivateCloud"  # BridgX's provider name for machines in one's own data centre
MASK = "******"


def _live(name: str):
    return db.session.scalar(select(Cluster).where(Cluster.org_id == org_id(), Cluster.deleted_id == 0,
                                                   Cluster.name == name))


def create(body: dict, provider: str = PRIVATE_CLOUD) -> Cluster:
    """Record the machines as given (check them first with `check`); `data` is the name."""
    account_id = None
    if body.get("account_key"):
        acc = accounts.find_by_key(body["account_key"], provider)
        if acc is None:
            raise ParamInvalid("account_key", f"no {provider} account with this key in your organisation")
        account_id = acc.id
    with transaction():
        if _live(body["name"]):
            raise Conflict({"name": f"a cluster named {body['name']!r} already exists"})
        cluster = Cluster(org_id=org_id(), account_id=account_id, cluster_type=CUSTOM, name=body["name"],
                          provider=provider, region_id="", zone_id="", instance_type="", image="",
                          network_config={}, charge_config={}, disks={}, password_encrypted=None,
                          desc=body.get("desc") or "", tags={"usage": "unused"}, create_by=principal().username)
        db.session.add(cluster)
        db.session.flush()
        db.session.add_all(CustomMachine(org_id=cluster.org_id, cluster_id=cluster.id, instance_ip=m["instance_ip"],
                                         login_name=m["login_name"],
                                         login_password_encrypted=encrypt(m["login_password"]))
                           for m in body["instance_list"])
    log.info("custom cluster %s (%s) recorded with %d machines", cluster.id, provider, len(body["instance_list"]))
    return cluster


def _get(args: dict) -> Cluster:
    """By `cluster_name` (wins, as in BridgX) or `cluster_id`; another organisation's is not found."""
    if args.get("cluster_name"):
        cluster = _live(args["cluster_name"])
        field = "cluster_name"
    else:
        field = "cluster_id"
        cid = args["cluster_id"]
        if not cid.isdigit() or not 1 <= int(cid) <= 2**31 - 1:
            raise ParamInvalid("cluster_id", "must be an integer id")
        cluster = db.session.get(Cluster, int(cid))
        if cluster is not None and (cluster.org_id != org_id() or cluster.deleted_id):
            cluster = None
    if cluster is None:
        raise NotFound({field: "no such cluster"})
    return cluster


def detail(args: dict) -> dict:
    cluster = _get(args)
    acc = db.session.get(CloudAccount, cluster.account_id) if cluster.account_id else None
    return {"cluster_id": str(cluster.id), "name": cluster.name, "desc": cluster.desc, "decs": cluster.desc,
            "provider": cluster.provider, "account_key": acc.account_key if acc else "",
            "cluster_type": cluster.cluster_type}


def list_machines(args: dict) -> dict:
    """The machines of one custom cluster, oldest first; passwords are never returned."""
    cluster = _live(args["cluster_name"])
    if cluster is None:
        raise ParamInvalid("cluster_name", f"no cluster named {args['cluster_name']!r}")
    if cluster.cluster_type != CUSTOM:
        raise ParamInvalid("cluster_name", "not a custom cluster: its machines are in instance/describe_all")
    query = select(CustomMachine).where(CustomMachine.cluster_id == cluster.id).order_by(CustomMachine.id)
    rows, pager = paginate(query, args)
    return {"instance_list": [{"instance_ip": m.instance_ip, "login_name": m.login_name,
                               "login_password": MASK if m.login_password_encrypted else ""} for m in rows],
            "pager": pager}


def machine_counts(cluster_ids: list[int]) -> dict[int, int]:
    """{cluster id: number of recorded machines} for custom clusters (for cluster lists)."""
    if not cluster_ids:
        return {}
    return dict(db.session.execute(select(CustomMachine.cluster_id, func.count()).where(
        CustomMachine.cluster_id.in_(cluster_ids)).group_by(CustomMachine.cluster_id)).all())


def check(body: dict) -> dict:
    """Try to log in to every machine (bounded time and concurrency); one result per machine."""
    machines = body["instance_list"]
    targets = []
    for m in machines:
        host, port = ssh.parse_address(m["instance_ip"])
        targets.append(ssh.Target(m["instance_ip"], host, port, m["login_name"], m["login_password"]))
    db.session.commit()  # hold no database connection while waiting on the network
    results = ssh.check_all(targets, current_app.config["SSH_CHECK_TIMEOUT"],
                            current_app.config["SSH_CHECK_CONCURRENCY"])
    rows = [{"instance_ip": t.address, "is_pass": ok, "reason": reason} for t, (ok, reason) in zip(targets, results)]
    return {"is_all_pass": all(r["is_pass"] for r in rows), "instance_list": rows,
            "machine_list": [{"ip": r["instance_ip"], "is_pass": r["is_pass"], "reason": r["reason"]} for r in rows]}

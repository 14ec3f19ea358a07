"""VPCs, subnets and security groups: created in the cloud through one account, recorded in the
local store, and described from the store (fast, with stable paging). `sync` brings the store in
line with what the cloud lists. Written once against the Provider interface, for every cloud."""
from __future__ import annotations

import logging
import uuid
from datetime import timezone

from sqlalchemy import delete, select

from app.accounts import service as accounts
from app.accounts.models import CloudAccount
from app.catalog.known import check_known
from app.core.db import transaction
from app.core.errors import CloudFailure, NotFound, ParamInvalid
from app.core.paging import paginate, pascal
from app.core.tenancy import org_id
from app.core.timefmt import fmt
from app.extensions import db
from app.network.models import SecurityGroup, SecurityGroupRule, Subnet, Vpc
from app.network.schemas import RuleSchema, inside
from app.providers import base

log = logging.getLogger(__name__)

# network_config/template's default rules (the manual's example): everything in and out.
DEFAULT_RULES = [
    {"protocol": "all", "port_from": 0, "port_to": 0, "direction": direction, "group_id": "",
     "cidr_ip": "0.0.0.0/0", "prefix_list_id": ""}
    for direction in ("ingress", "egress")]
TEMPLATE = {"provider": "", "region_id": "", "cidr_block": "10.0.0.0/16", "vpc_name": "默认的vpc", "zone_id": "",
            "switch_cidr_block": "10.0.0.0/24", "gateway_ip": "10.0.0.254", "switch_name": "默认的子网",
            "security_group_name": "默认的安全组", "security_group_type": "normal", "ak": "", "rules": DEFAULT_RULES}


# ---------------------------------------------------------------- accounts and drivers
def provider_for(acc: CloudAccount, region_id: str | None) -> base.Provider:
    """The driver for one account in one region; a provider without a driver is a 400."""
    from app.providers import registry
    check_known(acc.id, region_id)
    try:
        return registry.get_provider(acc.provider, acc.credentials(), region_id)
    except ValueError as exc:
        raise ParamInvalid("provider", str(exc))


def account_by_key(provider: str, key: str, field: str) -> CloudAccount:
    acc = accounts.find_by_key(key, provider)
    if acc is None:
        raise ParamInvalid(field, f"no {provider} account with this key in your organisation")
    return acc


def _owner(vpc: Vpc, account_key: str | None) -> CloudAccount:
    """The account a call on `vpc` goes through: the one named, else the one that owns the VPC."""
    if account_key:
        return account_by_key(vpc.provider, account_key, "account_key")
    acc = db.session.get(CloudAccount, vpc.account_id)
    if acc is None or acc.deleted_id:
        raise ParamInvalid("account_key", "the account that owns this VPC was deleted; name another account")
    return acc


def _release() -> None:
    """End the read transaction so no database connection is held across slow cloud calls."""
    db.session.commit()


# ---------------------------------------------------------------- store helpers
def _naive_utc(dt):
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt is not None and dt.tzinfo else dt


def _vpc_values(v: base.Vpc) -> dict:
    return {"name": v.name, "cidr_block": v.cidr_block, "status": v.status, "created_at": _naive_utc(v.created_at)}


def _subnet_values(s: base.Subnet) -> dict:
    return {"vpc_id": s.vpc_id, "zone_id": s.zone_id, "name": s.name, "cidr_block": s.cidr_block,
            "gateway_ip": s.gateway_ip or None, "status": s.status, "is_default": bool(s.is_default),
            "available_ip_count": s.available_ip_count, "created_at": _naive_utc(s.created_at)}


def _group_values(g: base.SecurityGroup) -> dict:
    return {"vpc_id": g.vpc_id, "name": g.name, "group_type": g.group_type, "created_at": _naive_utc(g.created_at)}


def _assign(row, values: dict) -> bool:
    """Set the values that differ (None means "the cloud did not say": keep ours); True if any did."""
    changed = False
    for key, value in values.items():
        if value is not None and getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _key(model) -> str:
    return {Vpc: "vpc_id", Subnet: "subnet_id", SecurityGroup: "group_id"}[model]


def _record(model, acc: CloudAccount, region_id: str, cloud_id: str, values: dict):
    """Insert or update the stored row of one cloud object."""
    row = db.session.scalar(select(model).where(model.org_id == acc.org_id, model.provider == acc.provider,
                                                getattr(model, _key(model)) == cloud_id))
    if row is None:
        row = model(org_id=acc.org_id, provider=acc.provider, **{_key(model): cloud_id})
        db.session.add(row)
    _assign(row, dict(values, account_id=acc.id, region_id=region_id))
    return row


def _rule_tuple(rule) -> tuple:
    if isinstance(rule, SecurityGroupRule):
        return (rule.protocol, rule.port_range, rule.direction, rule.peer_group_id, rule.cidr_ip, rule.prefix_list_id)
    if isinstance(rule, dict):
        return (rule["protocol"], rule["port_range"], rule["direction"], rule.get("group_id") or "",
                rule.get("cidr_ip") or "", rule.get("prefix_list_id") or "")
    return (rule.protocol, rule.port_range or "", rule.direction, rule.group_id or "", rule.cidr_ip or "",
            rule.prefix_list_id or "")


def _replace_rules(group: SecurityGroup, rules: list[tuple]) -> None:
    db.session.flush()  # a new group needs its id
    db.session.execute(delete(SecurityGroupRule).where(SecurityGroupRule.group_pk == group.id))
    db.session.add_all(SecurityGroupRule(group_pk=group.id, protocol=r[0], port_range=r[1], direction=r[2],
                                         peer_group_id=r[3], cidr_ip=r[4], prefix_list_id=r[5]) for r in rules)


def _forget(rows: list) -> None:
    """Delete stored rows (a group's rules first)."""
    group_pks = [r.id for r in rows if isinstance(r, SecurityGroup)]
    if group_pks:
        db.session.execute(delete(SecurityGroupRule).where(SecurityGroupRule.group_pk.in_(group_pks)))
    for row in rows:
        db.session.delete(row)


def _to_rules(rules: list[dict]) -> list[base.Rule]:
    return [base.Rule(protocol=r["protocol"], port_range=r["port_range"], direction=r["direction"],
                      cidr_ip=r["cidr_ip"] or None, group_id=r["group_id"] or None,
                      prefix_list_id=r["prefix_list_id"] or None) for r in rules]


# ---------------------------------------------------------------- create
def create_vpc(body: dict) -> str:
    acc = account_by_key(body["provider"], body["ak"], "ak")
    cloud = provider_for(acc, body["region_id"])
    _release()
    vpc_id = cloud.create_vpc(body["vpc_name"], body["cidr_block"], client_token=uuid.uuid4().hex)
    with transaction():
        _record(Vpc, acc, body["region_id"], vpc_id,
                {"name": body["vpc_name"], "cidr_block": body["cidr_block"], "status": "Available"})
    log.info("created VPC %s (%s %s)", vpc_id, acc.provider, body["region_id"])
    return vpc_id


def _stored_vpc(vpc_id: str) -> Vpc:
    vpc = db.session.scalar(select(Vpc).where(Vpc.org_id == org_id(), Vpc.vpc_id == vpc_id))
    if vpc is None:
        raise ParamInvalid("vpc_id", "unknown VPC: create it here or run network_config/sync first")
    return vpc


def _subnet_in_cloud(cloud: base.Provider, vpc_id: str, subnet_id: str, body: dict) -> dict:
    """The new subnet as the cloud describes it (status, free addresses), else as asked."""
    values = {"vpc_id": vpc_id, "zone_id": body["zone_id"], "name": body["switch_name"],
              "cidr_block": body["cidr_block"], "gateway_ip": body.get("gateway_ip"), "status": "Available"}
    try:
        found = [s for s in cloud.describe_subnets(vpc_id) if s.subnet_id == subnet_id]
    except base.CloudError as exc:
        log.warning("could not describe new subnet %s: %s", subnet_id, exc)
        return values
    return dict(values, **{k: v for k, v in _subnet_values(found[0]).items() if v is not None}) if found else values


def _same_place(vpc: Vpc, body: dict) -> None:
    """ComandX also sends the provider and region it has in mind: they must be the VPC's."""
    for field, have in (("provider", vpc.provider), ("region_id", vpc.region_id)):
        if body.get(field) and have and body[field] != have:
            raise ParamInvalid(field, f"VPC {vpc.vpc_id} is in {have}, not {body[field]}")


def create_subnet(body: dict) -> str:
    vpc = _stored_vpc(body["vpc_id"])
    _same_place(vpc, body)
    if vpc.cidr_block and not inside(body["cidr_block"], vpc.cidr_block):
        raise ParamInvalid("cidr_block", f"must be inside the VPC's block {vpc.cidr_block}")
    acc = _owner(vpc, body.get("account_key"))
    region_id = vpc.region_id
    check_known(acc.id, region_id, body["zone_id"])
    cloud = provider_for(acc, region_id)
    _release()
    subnet_id = cloud.create_subnet(body["vpc_id"], body["zone_id"], body["switch_name"], body["cidr_block"],
                                    client_token=uuid.uuid4().hex)
    values = _subnet_in_cloud(cloud, body["vpc_id"], subnet_id, body)
    with transaction():
        _record(Subnet, acc, region_id, subnet_id, values)
    return subnet_id


def _create_group(cloud: base.Provider, acc: CloudAccount, region_id: str, vpc_id: str, name: str,
                  group_type: str, rules: list[dict]) -> str:
    group_id = cloud.create_security_group(vpc_id, name, group_type, _to_rules(rules), client_token=uuid.uuid4().hex)
    with transaction():
        group = _record(SecurityGroup, acc, region_id, group_id,
                        {"vpc_id": vpc_id, "name": name, "group_type": group_type})
        _replace_rules(group, [_rule_tuple(r) for r in rules])
    return group_id


def create_security_group(body: dict) -> str:
    """create_with_rule, and security_group/create (no `rules`: a group with none)."""
    vpc = _stored_vpc(body["vpc_id"])
    _same_place(vpc, body)
    acc = _owner(vpc, body.get("account_key"))
    region_id = vpc.region_id
    cloud = provider_for(acc, region_id)
    _release()
    return _create_group(cloud, acc, region_id, body["vpc_id"], body["security_group_name"],
                         body["security_group_type"], body.get("rules") or [])


def add_rules(body: dict) -> None:
    """Add rules to a stored group, then store the group's rules as the cloud lists them (so a
    refusal part-way leaves the store true to the cloud before the error is reported)."""
    group = db.session.scalar(select(SecurityGroup).where(SecurityGroup.org_id == org_id(),
                                                          SecurityGroup.group_id == body["security_group_id"]))
    if group is None:
        raise ParamInvalid("security_group_id", "unknown security group: create it here or run network_config/sync")
    if body.get("vpc_id") and group.vpc_id and body["vpc_id"] != group.vpc_id:
        raise ParamInvalid("vpc_id", f"the group is in VPC {group.vpc_id}")
    if body.get("region_id") and body["region_id"] != group.region_id:
        raise ParamInvalid("region_id", f"the group is in {group.region_id}")
    if body.get("account_key"):
        acc = account_by_key(group.provider, body["account_key"], "account_key")
    else:
        acc = db.session.get(CloudAccount, group.account_id)
        if acc is None or acc.deleted_id:
            raise ParamInvalid("account_key", "the account that owns this group was deleted; name another account")
    group_pk, group_id, vpc_id, region_id = group.id, group.group_id, group.vpc_id, group.region_id
    cloud = provider_for(acc, region_id)
    _release()
    try:
        cloud.add_security_group_rules(group_id, _to_rules(body["rules"]))
    finally:
        _refresh_rules(cloud, group_pk, group_id, vpc_id)
    log.info("added %d rules to security group %s", len(body["rules"]), group_id)


def _refresh_rules(cloud: base.Provider, group_pk: int, group_id: str, vpc_id: str) -> None:
    try:
        listed = [g for g in cloud.describe_security_groups(vpc_id or None) if g.group_id == group_id]
    except base.CloudError as exc:
        log.warning("could not re-read the rules of security group %s: %s", group_id, exc)
        return
    if listed:
        with transaction():
            _replace_rules(db.session.get(SecurityGroup, group_pk), [_rule_tuple(r) for r in listed[0].rules])


def create_network(body: dict) -> str:
    """VPC, subnet and security group in one call. Each is recorded as soon as it exists; when a
    later step fails, what was created is deleted from the cloud (and the store) before the error
    is raised, and when that clean-up fails too, the 502 lists what is left (still recorded)."""
    acc = account_by_key(body["provider"], body["ak"], "ak")
    region_id = body["region_id"]
    check_known(acc.id, region_id, body["zone_id"])
    cloud = provider_for(acc, region_id)
    rules = body.get("rules")
    if rules is None:
        rules = RuleSchema(many=True).load(DEFAULT_RULES)
    _release()
    vpc_id = cloud.create_vpc(body["vpc_name"], body["cidr_block"], client_token=uuid.uuid4().hex)
    step = "subnet"
    try:
        with transaction():
            _record(Vpc, acc, region_id, vpc_id, {"name": body["vpc_name"], "cidr_block": body["cidr_block"],
                                                  "status": "Available"})
        subnet_body = dict(body, cidr_block=body["switch_cidr_block"])
        subnet_id = cloud.create_subnet(vpc_id, body["zone_id"], body["switch_name"], body["switch_cidr_block"],
                                        client_token=uuid.uuid4().hex)
        values = _subnet_in_cloud(cloud, vpc_id, subnet_id, subnet_body)
        with transaction():
            _record(Subnet, acc, region_id, subnet_id, values)
        step = "security_group"
        _create_group(cloud, acc, region_id, vpc_id, body["security_group_name"], body["security_group_type"], rules)
    except Exception as exc:
        db.session.rollback()
        log.warning("network_config/create failed at the %s step (%s); rolling back VPC %s", step, exc, vpc_id)
        problem = _roll_back(cloud, vpc_id, body["security_group_name"])
        if problem is None:
            raise
        raise CloudFailure({"step": step, "error": str(exc), "rollback_error": problem,
                            "left_in_cloud": _recorded_in(vpc_id),
                            "hint": "these stay recorded here; delete them in the cloud, then run network_config/sync"})
    log.info("created network %s (%s %s)", vpc_id, acc.provider, region_id)
    return vpc_id


def _roll_back(cloud: base.Provider, vpc_id: str, group_name: str) -> str | None:
    """Delete a new VPC and what was created in it, from the cloud and then from the store;
    None on success, else why it stopped (what is left stays recorded)."""
    try:
        for group in cloud.describe_security_groups(vpc_id):
            # Only ours: a VPC's built-in default group goes with the VPC, and region-wide
            # groups (vpc_id "") belong to nobody's new VPC.
            if group.name == group_name and group.vpc_id == vpc_id:
                cloud.delete_security_group(group.group_id)
                _forget_recorded(SecurityGroup, group.group_id)
        for subnet in cloud.describe_subnets(vpc_id):
            cloud.delete_subnet(subnet.subnet_id, vpc_id)
            _forget_recorded(Subnet, subnet.subnet_id)
        cloud.delete_vpc(vpc_id)
        _forget_recorded(Vpc, vpc_id)
    except base.CloudError as exc:
        log.error("rollback of VPC %s failed: %s; what is left stays recorded", vpc_id, exc)
        return str(exc)
    return None


def _forget_recorded(model, cloud_id: str) -> None:
    with transaction():
        _forget(list(db.session.scalars(select(model).where(model.org_id == org_id(),
                                                            getattr(model, _key(model)) == cloud_id))))


def _recorded_in(vpc_id: str) -> dict:
    """What the store still holds of a VPC: {vpc_id, subnet_ids, security_group_ids}."""
    def ids(model):
        return list(db.session.scalars(select(getattr(model, _key(model))).where(
            model.org_id == org_id(), model.vpc_id == vpc_id)))
    return {"vpc_id": vpc_id if ids(Vpc) else "", "subnet_ids": ids(Subnet), "security_group_ids": ids(SecurityGroup)}


# ---------------------------------------------------------------- sync
def sync(body: dict) -> dict:
    """Make the store match the cloud for one account and region; returns counts of changes.

    Objects the cloud no longer lists are removed when this account recorded them; a second run
    with nothing changed in the cloud changes nothing."""
    acc = account_by_key(body["provider"], body["account_key"], "account_key")
    region_id = body["region_id"]
    cloud = provider_for(acc, region_id)
    _release()
    vpcs, subnets, groups = cloud.describe_vpcs(), cloud.describe_subnets(), cloud.describe_security_groups()
    stats = {}
    with transaction():
        _, stats["vpcs"] = _reconcile(Vpc, acc, region_id, {v.vpc_id: _vpc_values(v) for v in vpcs})
        _, stats["subnets"] = _reconcile(Subnet, acc, region_id, {s.subnet_id: _subnet_values(s) for s in subnets})
        rows, stats["groups"] = _reconcile(SecurityGroup, acc, region_id,
                                           {g.group_id: _group_values(g) for g in groups})
        stats["rules_changed"] = _sync_rules(rows, {g.group_id: g.rules for g in groups})
    log.info("network sync of %s %s (account %s): %s", acc.provider, region_id, acc.id, stats)
    return stats


def _reconcile(model, acc: CloudAccount, region_id: str, listed: dict) -> tuple[dict, dict]:
    """Add, update and remove stored rows of one kind; (rows by cloud id, counts)."""
    key = getattr(model, _key(model))
    stored = db.session.scalars(select(model).where(
        model.org_id == acc.org_id, model.provider == acc.provider,
        (model.region_id == region_id) | key.in_(list(listed)))).all()
    rows = {getattr(r, _key(model)): r for r in stored}
    counts = {"added": 0, "updated": 0, "removed": 0}
    for cloud_id, values in listed.items():
        row = rows.get(cloud_id)
        if row is None:
            row = rows[cloud_id] = model(org_id=acc.org_id, provider=acc.provider, **{_key(model): cloud_id})
            db.session.add(row)
            counts["added"] += 1
            _assign(row, dict(values, account_id=acc.id, region_id=region_id))
        elif _assign(row, dict(values, account_id=acc.id, region_id=region_id)):
            counts["updated"] += 1
    gone = [r for cloud_id, r in rows.items() if cloud_id not in listed and r.account_id == acc.id]
    _forget(gone)
    counts["removed"] = len(gone)
    return {k: r for k, r in rows.items() if k in listed}, counts


def _sync_rules(rows: dict, listed: dict) -> int:
    db.session.flush()
    stored: dict = {}
    if rows:
        for rule in db.session.scalars(select(SecurityGroupRule).where(
                SecurityGroupRule.group_pk.in_([r.id for r in rows.values()]))):
            stored.setdefault(rule.group_pk, []).append(_rule_tuple(rule))
    changed = 0
    for group_id, row in rows.items():
        wanted = sorted(_rule_tuple(r) for r in listed.get(group_id) or [])
        if sorted(stored.get(row.id, [])) != wanted:
            _replace_rules(row, wanted)
            changed += 1
    return changed


# ---------------------------------------------------------------- describe (from the store)
def vpc_dict(vpc: Vpc, switch_ids: list[str] | None = None) -> dict:
    """The manual's keys; SwitchIds (comma-separated, a string as in its example) only when given."""
    out = {"VpcId": vpc.vpc_id, "VpcName": vpc.name, "CidrBlock": vpc.cidr_block,
           "SwitchIds": ",".join(switch_ids or []), "Provider": vpc.provider, "Status": vpc.status,
           "CreateAt": fmt(vpc.created_at)}
    if switch_ids is None:
        del out["SwitchIds"]
    return out


def subnet_dict(s: Subnet) -> dict:
    return {"VpcId": s.vpc_id, "SwitchId": s.subnet_id, "ZoneId": s.zone_id, "SwitchName": s.name,
            "CidrBlock": s.cidr_block, "GatewayIp": s.gateway_ip or "", "VStatus": s.status,
            "CreateAt": fmt(s.created_at), "IsDefault": "Y" if s.is_default else "N",
            "AvailableIpAddressCount": s.available_ip_count or 0}


def group_dict(g: SecurityGroup) -> dict:
    return {"VpcId": g.vpc_id, "SecurityGroupId": g.group_id, "SecurityGroupName": g.name,
            "SecurityGroupType": g.group_type, "CreateAt": fmt(g.created_at)}


def _newest_first(model, query):
    return query.order_by(model.created_at.desc(), model.id.desc())


def _by_account(model, query, args: dict):
    """BridgX's `account_key` filter: objects recorded through that access key's account."""
    if args.get("account_key"):
        ids = select(CloudAccount.id).where(CloudAccount.org_id == org_id(),
                                            CloudAccount.account_key == args["account_key"])
        query = query.where(model.account_id.in_(ids))
    return query


def describe_vpcs(args: dict) -> dict:
    query = _by_account(Vpc, select(Vpc).where(Vpc.org_id == org_id()), args)
    for field, column in (("provider", Vpc.provider), ("region_id", Vpc.region_id), ("vpc_name", Vpc.name)):
        if args.get(field):
            query = query.where(column == args[field])
    rows, pager = paginate(_newest_first(Vpc, query), args)
    switches: dict = {}
    if rows:
        for vpc_id, subnet_id in db.session.execute(
                select(Subnet.vpc_id, Subnet.subnet_id).where(Subnet.org_id == org_id(),
                                                              Subnet.vpc_id.in_([v.vpc_id for v in rows]))
                .order_by(Subnet.id)):
            switches.setdefault(vpc_id, []).append(subnet_id)
    return {"Vpcs": [vpc_dict(v, switches.get(v.vpc_id, [])) for v in rows], "Pager": pascal(pager)}


def describe_subnets(args: dict) -> dict:
    query = select(Subnet).where(Subnet.org_id == org_id(), Subnet.vpc_id == args["vpc_id"])
    if args.get("switch_name"):
        query = query.where(Subnet.name == args["switch_name"])
    if args.get("zone_id"):
        query = query.where(Subnet.zone_id == args["zone_id"])
    rows, pager = paginate(_newest_first(Subnet, query), args)
    return {"Switches": [subnet_dict(s) for s in rows], "Pager": pascal(pager)}


def describe_groups(args: dict) -> dict:
    query = _by_account(SecurityGroup, select(SecurityGroup).where(SecurityGroup.org_id == org_id(),
                                                                   SecurityGroup.vpc_id == args["vpc_id"]), args)
    if args.get("region_id"):
        query = query.where(SecurityGroup.region_id == args["region_id"])
    if args.get("security_group_name"):
        query = query.where(SecurityGroup.name == args["security_group_name"])
    rows, pager = paginate(_newest_first(SecurityGroup, query), args)
    return {"Groups": [group_dict(g) for g in rows], "Pager": pascal(pager)}


def vpc_info(vpc_id: str) -> dict:
    vpc = db.session.scalar(select(Vpc).where(Vpc.org_id == org_id(), Vpc.vpc_id == vpc_id))
    if vpc is None:
        raise NotFound({"vpc_id": "not found"})
    return vpc_dict(vpc)


def subnet_info(subnet_id: str, vpc_id: str | None) -> dict:
    query = select(Subnet).where(Subnet.org_id == org_id(), Subnet.subnet_id == subnet_id)
    if vpc_id:
        query = query.where(Subnet.vpc_id == vpc_id)
    subnet = db.session.scalar(query)
    if subnet is None:
        raise NotFound({"switch_id": "not found"})
    return subnet_dict(subnet)


def group_rules(group_id: str) -> dict:
    group = db.session.scalar(select(SecurityGroup).where(SecurityGroup.org_id == org_id(),
                                                          SecurityGroup.group_id == group_id))
    if group is None:
        raise NotFound({"security_group_id": "not found"})
    rules = db.session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.group_pk == group.id)
                               .order_by(SecurityGroupRule.id))
    return {"security_group_id": group.group_id, "security_group_name": group.name,
            "security_group_type": group.group_type,
            "rules": [{"protocol": r.protocol, "port_range": r.port_range, "direction": r.direction,
                       "group_id": r.peer_group_id, "cidr_ip": r.cidr_ip, "prefix_list_id": r.prefix_list_id}
                      for r in rules]}


def template(provider: str) -> dict:
    """A ready-to-post network_config/create body; `ak` is the organisation's first account of the provider."""
    acc = accounts.first_of_provider(provider)
    return dict(TEMPLATE, provider=provider, ak=acc.account_key if acc else "",
                rules=[dict(r) for r in DEFAULT_RULES])

"""VPCs, subnets, security groups and network_config, through the real drivers against the
cloud emulator (one server per session, emptied before each test)."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from tests.network_fixtures import CLOUDS, KEYS, api, cloud_calls, cloudsim, sim, sim_accounts  # noqa: F401

REGION, ZONE = CLOUDS["AlibabaCloud"]
VPC_KEYS = {"VpcId", "VpcName", "CidrBlock", "SwitchIds", "Provider", "Status", "CreateAt"}
SUBNET_KEYS = {"VpcId", "SwitchId", "ZoneId", "SwitchName", "CidrBlock", "GatewayIp", "VStatus", "CreateAt",
               "IsDefault", "AvailableIpAddressCount"}
GROUP_KEYS = {"VpcId", "SecurityGroupId", "SecurityGroupName", "SecurityGroupType", "CreateAt"}
RULE_KEYS = {"protocol", "port_range", "direction", "group_id", "cidr_ip", "prefix_list_id"}
SSH = {"protocol": "tcp", "port_range": "22/22", "direction": "ingress", "cidr_ip": "10.0.0.0/8"}


def network_body(provider: str, **overrides) -> dict:
    region, zone = CLOUDS[provider]
    body = {"provider": provider, "region_id": region, "cidr_block": "10.0.0.0/16", "vpc_name": "web-net",
            "zone_id": zone, "switch_cidr_block": "10.0.1.0/24", "switch_name": "web-vsw",
            "security_group_name": "web-sg", "security_group_type": "normal", "ak": KEYS[provider]}
    body.update(overrides)
    return body


def only(items: list, **match) -> dict:
    found = [i for i in items if all(i[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, items)
    return found[0]


# ---------------------------------------------------------------- create, then describe
@pytest.mark.parametrize("provider", CLOUDS)
def test_network_config_create_then_describe(api, sim, sim_accounts, provider):
    region, zone = CLOUDS[provider]
    status, template = api.get("network_config/template", provider=provider)
    assert status == 200 and template["data"]["ak"] == KEYS[provider]
    body = dict(template["data"], region_id=region, zone_id=zone, vpc_name="web-net", switch_name="web-vsw",
                security_group_name="web-sg", rules=template["data"]["rules"] + [SSH])
    status, resp = api.post("network_config/create", body)
    assert status == 200, resp
    vpc_id = resp["data"]
    assert [v.vpc_id for v in sim.cloud.vpcs(provider, region)] == [vpc_id]

    _, vpcs = api.get("vpc/describe", provider=provider, region_id=region)
    assert vpcs["data"]["Pager"] == {"PageNumber": 1, "PageSize": 10, "Total": 1}
    [vpc] = vpcs["data"]["Vpcs"]
    assert set(vpc) == VPC_KEYS
    assert (vpc["VpcId"], vpc["VpcName"], vpc["CidrBlock"], vpc["Provider"]) == \
        (vpc_id, "web-net", "10.0.0.0/16", provider)
    assert vpc["CreateAt"].endswith("+0800 CST") and vpc["Status"]

    _, subnets = api.get("subnet/describe", vpc_id=vpc_id)
    assert subnets["data"]["Pager"] == {"PageNumber": 1, "PageSize": 10, "Total": 1}
    [subnet] = subnets["data"]["Switches"]
    assert set(subnet) == SUBNET_KEYS
    assert (subnet["VpcId"], subnet["ZoneId"], subnet["SwitchName"], subnet["CidrBlock"], subnet["IsDefault"]) == \
        (vpc_id, zone, "web-vsw", "10.0.0.0/24", "N")
    assert 0 < subnet["AvailableIpAddressCount"] <= 256
    assert vpc["SwitchIds"] == subnet["SwitchId"]
    assert [s.subnet_id for s in sim.cloud.subnets(provider, region, vpc_id)] == [subnet["SwitchId"]]

    _, groups = api.get("security_group/describe", vpc_id=vpc_id, region_id=region)
    assert groups["data"]["Pager"] == {"PageNumber": 1, "PageSize": 10, "Total": 1}
    [group] = groups["data"]["Groups"]
    assert set(group) == GROUP_KEYS
    assert (group["VpcId"], group["SecurityGroupName"], group["SecurityGroupType"]) == (vpc_id, "web-sg", "normal")

    status, info = api.get(f"vpc/info/{vpc_id}")
    assert status == 200 and info["data"] == {k: v for k, v in vpc.items() if k != "SwitchIds"}
    status, info = api.get(f"subnet/info/{subnet['SwitchId']}", vpc_id=vpc_id)
    assert status == 200 and info["data"] == subnet
    status, rules = api.get(f"security_group/{group['SecurityGroupId']}/rules")
    assert status == 200
    assert set(rules["data"]) == {"security_group_id", "security_group_name", "security_group_type", "rules"}
    assert rules["data"]["security_group_id"] == group["SecurityGroupId"]
    assert all(set(r) == RULE_KEYS for r in rules["data"]["rules"])
    assert {(r["protocol"], r["port_range"], r["direction"], r["cidr_ip"]) for r in rules["data"]["rules"]} == {
        ("all", "-1/-1", "ingress", "0.0.0.0/0"), ("all", "-1/-1", "egress", "0.0.0.0/0"),
        ("tcp", "22/22", "ingress", "10.0.0.0/8")}
    [cloud_group] = [g for g in sim.cloud.security_groups(provider, region) if g.group_id == group["SecurityGroupId"]]
    assert len(cloud_group.rules) == 3


def test_single_create_routes_and_filters(api, sim, sim_accounts):
    key = sim_accounts["AlibabaCloud"]
    status, resp = api.post("vpc/create", {"provider": "AlibabaCloud", "region_id": REGION, "vpc_name": "solo",
                                           "ak": key})
    assert status == 200, resp
    vpc_id = resp["data"]
    _, info = api.get(f"vpc/info/{vpc_id}")
    assert info["data"]["CidrBlock"] == "172.16.0.0/12" and set(info["data"]) == VPC_KEYS - {"SwitchIds"}

    # POST without account_key (the VPC's own account), and the manual's GET with query parameters
    status, one = api.post("subnet/create", {"vpc_id": vpc_id, "zone_id": ZONE, "cidr_block": "172.16.1.0/24",
                                             "switch_name": "vsw-one", "gateway_ip": "172.16.1.1"})
    assert status == 200, one
    status, two = api.get("subnet/create", vpc_id=vpc_id, zone_id=ZONE, cidr_block="172.16.2.0/24",
                          switch_name="vsw-two", account_key=key)
    assert status == 200, two
    _, subnets = api.get("subnet/describe", vpc_id=vpc_id)
    assert subnets["data"]["Pager"]["Total"] == 2
    assert only(subnets["data"]["Switches"], SwitchId=one["data"])["GatewayIp"] == "172.16.1.1"
    _, named = api.get("subnet/describe", vpc_id=vpc_id, switch_name="vsw-two")
    assert [s["SwitchId"] for s in named["data"]["Switches"]] == [two["data"]]
    _, vpcs = api.get("vpc/describe", vpc_name="solo")
    assert set(vpcs["data"]["Vpcs"][0]["SwitchIds"].split(",")) == {one["data"], two["data"]}
    assert api.get("vpc/describe", vpc_name="nope")[1]["data"]["Pager"]["Total"] == 0
    assert api.get("vpc/describe", provider="TencentCloud")[1]["data"]["Vpcs"] == []

    status, web = api.post("security_group/create_with_rule", {"vpc_id": vpc_id, "security_group_name": "web",
                                                               "rules": [SSH]})
    assert status == 200, web
    peer_rule = {"protocol": "tcp", "port_range": "8080/8090", "direction": "ingress", "group_id": web["data"]}
    status, app_sg = api.post("security_group/create_with_rule", {
        "vpc_id": vpc_id, "security_group_name": "app", "security_group_type": "enterprise", "rules": [peer_rule]})
    assert status == 200, app_sg
    _, rules = api.get(f"security_group/{app_sg['data']}/rules")
    assert rules["data"]["security_group_type"] == "enterprise"
    assert rules["data"]["rules"] == [dict(peer_rule, cidr_ip="", prefix_list_id="")]
    _, groups = api.get("security_group/describe", vpc_id=vpc_id, security_group_name="web")
    assert [g["SecurityGroupId"] for g in groups["data"]["Groups"]] == [web["data"]]
    assert api.get("security_group/describe", vpc_id=vpc_id, region_id="cn-beijing")[1]["data"]["Groups"] == []

    assert api.get("vpc/info/vpc-nope")[0] == 404
    assert api.get("subnet/info/vsw-nope")[0] == 404
    assert api.get(f"subnet/info/{one['data']}", vpc_id="vpc-other")[0] == 404
    assert api.get("security_group/sg-nope/rules")[0] == 404
    assert api.get("subnet/describe")[0] == 400  # vpc_id is required


def test_other_organisations_see_nothing(api, make_user, sim, sim_accounts):
    status, resp = api.post("network_config/create", network_body("AlibabaCloud"))
    assert status == 200, resp
    vpc_id = resp["data"]
    group_id = api.get("security_group/describe", vpc_id=vpc_id)[1]["data"]["Groups"][0]["SecurityGroupId"]
    other = make_user("other-org")
    assert other.get(f"vpc/info/{vpc_id}")[0] == 404
    assert other.get(f"security_group/{group_id}/rules")[0] == 404
    assert other.get("vpc/describe")[1]["data"]["Vpcs"] == []
    assert other.get("subnet/describe", vpc_id=vpc_id)[1]["data"]["Switches"] == []
    status, resp = other.post("subnet/create", {"vpc_id": vpc_id, "zone_id": ZONE, "cidr_block": "10.0.9.0/24",
                                                "switch_name": "intruder"})
    assert status == 400 and "vpc_id" in resp["data"]
    status, resp = other.post("vpc/create", {"provider": "AlibabaCloud", "region_id": REGION, "vpc_name": "x1",
                                             "ak": KEYS["AlibabaCloud"]})
    assert status == 400 and "ak" in resp["data"]


def test_deleted_owner_account_needs_another(api, sim, sim_accounts):
    vpc_id = api.post("vpc/create", {"provider": "AlibabaCloud", "region_id": REGION, "vpc_name": "orphan",
                                     "ak": KEYS["AlibabaCloud"]})[1]["data"]
    account_id = api.get("cloud_account/list", account=KEYS["AlibabaCloud"])[1]["data"]["cloud_account_list"][0]["id"]
    assert api.delete(f"cloud_account/delete/{account_id}")[0] == 200
    body = {"vpc_id": vpc_id, "zone_id": ZONE, "cidr_block": "172.16.3.0/24", "switch_name": "vsw-three"}
    status, resp = api.post("subnet/create", body)
    assert status == 400 and "account_key" in resp["data"]


# ---------------------------------------------------------------- sync
def _snapshot(app) -> dict:
    from app.extensions import db
    from app.network.models import SecurityGroup, SecurityGroupRule, Subnet, Vpc
    with app.app_context():
        return {model.__tablename__: [tuple(getattr(row, c.name) for c in model.__table__.columns)
                                      for row in db.session.scalars(select(model).order_by(model.id))]
                for model in (Vpc, Subnet, SecurityGroup, SecurityGroupRule)}


def _assert_store_matches_cloud(app, sim, provider, region):
    from app.extensions import db
    from app.network.models import SecurityGroup, Subnet, Vpc
    with app.app_context():
        def stored(column):
            return set(db.session.scalars(select(column).where(column.class_.region_id == region)))
        assert stored(Vpc.vpc_id) == {v.vpc_id for v in sim.cloud.vpcs(provider, region)}
        assert stored(Subnet.subnet_id) == {s.subnet_id for s in sim.cloud.subnets(provider, region)}
        assert stored(SecurityGroup.group_id) == {g.group_id for g in sim.cloud.security_groups(provider, region)}


@pytest.mark.parametrize("provider", CLOUDS)
def test_sync_brings_the_store_in_line_and_twice_changes_nothing(api, app, sim, sim_accounts, provider):
    from cloudsim import SimRule
    region, zone = CLOUDS[provider]
    status, resp = api.post("network_config/create", network_body(provider))
    assert status == 200, resp
    vpc_id = resp["data"]
    subnet_id = api.get("subnet/describe", vpc_id=vpc_id)[1]["data"]["Switches"][0]["SwitchId"]
    group_id = api.get("security_group/describe", vpc_id=vpc_id)[1]["data"]["Groups"][0]["SecurityGroupId"]

    # Behind our back: a new VPC with a subnet and a group, our subnet deleted, a rule added to our group.
    outside = sim.add_vpc(provider, region, "outside", "192.168.0.0/16")
    outside_subnet = sim.add_subnet(provider, region, outside, zone, "outside-vsw", "192.168.1.0/24")
    outside_group = sim.add_security_group(provider, region, outside, "outside-sg", rules=[
        {"direction": "ingress", "protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}])
    sim.remove_subnet(provider, subnet_id)
    sim.cloud.add_rules(provider, region, group_id, [SimRule("ingress", "tcp", 443, 443, "0.0.0.0/0")])

    sync = {"provider": provider, "region_id": region, "account_key": KEYS[provider]}
    assert api.post("network_config/sync", sync) == (200, {"code": 200, "msg": "success", "data": None})
    _assert_store_matches_cloud(app, sim, provider, region)
    assert api.get(f"subnet/info/{subnet_id}")[0] == 404
    assert api.get("subnet/describe", vpc_id=vpc_id)[1]["data"]["Switches"] == []
    status, info = api.get(f"subnet/info/{outside_subnet}", vpc_id=outside)
    assert status == 200 and (info["data"]["VpcId"], info["data"]["CidrBlock"]) == (outside, "192.168.1.0/24")
    _, rules = api.get(f"security_group/{outside_group}/rules")
    assert [(r["protocol"], r["port_range"], r["cidr_ip"]) for r in rules["data"]["rules"]] == \
        [("tcp", "80/80", "0.0.0.0/0")]
    _, rules = api.get(f"security_group/{group_id}/rules")
    assert ("tcp", "443/443") in {(r["protocol"], r["port_range"]) for r in rules["data"]["rules"]}
    _, vpcs = api.get("vpc/describe", region_id=region)
    assert only(vpcs["data"]["Vpcs"], VpcId=outside)["SwitchIds"] == outside_subnet

    before = _snapshot(app)
    assert api.post("network_config/sync", sync)[0] == 200
    assert _snapshot(app) == before

    sim.remove_vpc(provider, outside)
    assert api.post("network_config/sync", sync)[0] == 200
    _assert_store_matches_cloud(app, sim, provider, region)
    assert api.get(f"vpc/info/{outside}")[0] == 404
    assert api.get(f"security_group/{outside_group}/rules")[0] == 404
    assert api.get(f"vpc/info/{vpc_id}")[0] == 200
    before = _snapshot(app)
    assert api.post("network_config/sync", sync)[0] == 200
    assert _snapshot(app) == before


def test_sync_needs_a_known_account(api, sim, sim_accounts):
    status, resp = api.post("network_config/sync", {"provider": "AlibabaCloud", "region_id": REGION,
                                                    "account_key": KEYS["TencentCloud"]})
    assert status == 400 and "account_key" in resp["data"]


# ---------------------------------------------------------------- failures and rollback
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("provider", CLOUDS)
def test_failure_at_the_security_group_step_leaves_nothing_behind(api, sim, sim_accounts, monkeypatch, provider, when):
    """`after`: the group was created but the reply was lost."""
    from app.providers import registry
    from app.providers.base import CloudUnavailable
    driver = registry.driver_class(provider)
    real = driver.create_security_group

    def failing(self, *args, **kwargs):
        if when == "after":
            real(self, *args, **kwargs)
        raise CloudUnavailable("injected failure", "InjectedFault")

    monkeypatch.setattr(driver, "create_security_group", failing)
    status, resp = api.post("network_config/create", network_body(provider))
    assert status == 502 and resp["msg"] == "cloud_error", resp
    region = CLOUDS[provider][0]
    assert sim.cloud.vpcs(provider, region) == []
    assert sim.cloud.subnets(provider, region) == []
    assert sim.cloud.security_groups(provider, region) == []
    assert api.get("vpc/describe")[1]["data"]["Pager"]["Total"] == 0


def test_a_failed_rollback_is_reported_and_stays_recorded(api, sim, sim_accounts, monkeypatch):
    from app.providers import registry
    from app.providers.base import CloudUnavailable
    driver = registry.driver_class("AlibabaCloud")

    def fail(*args, **kwargs):
        raise CloudUnavailable("injected failure", "InjectedFault")

    monkeypatch.setattr(driver, "create_security_group", fail)
    monkeypatch.setattr(driver, "delete_vpc", fail)
    status, resp = api.post("network_config/create", network_body("AlibabaCloud"))
    assert status == 502, resp
    [vpc] = sim.cloud.vpcs("AlibabaCloud", REGION)
    assert resp["data"]["step"] == "security_group" and "injected" in resp["data"]["rollback_error"]
    assert resp["data"]["left_in_cloud"] == {"vpc_id": vpc.vpc_id, "subnet_ids": [], "security_group_ids": []}
    assert sim.cloud.subnets("AlibabaCloud", REGION) == []  # what could be deleted was
    _, vpcs = api.get("vpc/describe")
    assert [v["VpcId"] for v in vpcs["data"]["Vpcs"]] == [vpc.vpc_id]  # tracked, not silently left


def test_a_failed_first_step_creates_nothing(api, sim, sim_accounts):
    status, resp = api.post("network_config/create", network_body("AlibabaCloud", region_id="xx-nowhere-1"))
    assert status in (400, 502) and resp["msg"] in ("param_invalid", "cloud_error"), resp
    assert api.get("vpc/describe")[1]["data"]["Pager"]["Total"] == 0


# ---------------------------------------------------------------- validation
_DROP = object()
ALL = {"protocol": "all", "port_range": "-1/-1", "direction": "egress", "cidr_ip": "0.0.0.0/0"}


def _rule(protocol, port_range=None, **extra):
    rule = {"protocol": protocol, "direction": "ingress", "cidr_ip": "10.0.0.0/8"}
    if port_range is not None:
        rule["port_range"] = port_range
    rule.update(extra)
    return rule


MANY = [_rule("tcp", f"{port}/{port}") for port in range(1, 201)]
VPC, SUB, SG, NET = "vpc/create", "subnet/create", "security_group/create_with_rule", "network_config/create"

# (route, path, bad value, the field the 400 must name); each must fail before any cloud call
BAD = [
    (VPC, "provider", "OracleCloud", "provider"),
    (VPC, "region_id", _DROP, "region_id"),
    (VPC, "ak", _DROP, "ak"),
    (VPC, "ak", "AKnotmine", "ak"),
    (VPC, "cidr_block", "10.0.0.0/7", "cidr_block"),
    (VPC, "cidr_block", "10.0.0.0/25", "cidr_block"),
    (VPC, "cidr_block", "11.0.0.0/8", "cidr_block"),
    (VPC, "cidr_block", "172.0.0.0/8", "cidr_block"),
    (VPC, "cidr_block", "172.16.0.0/11", "cidr_block"),
    (VPC, "cidr_block", "192.168.0.0/15", "cidr_block"),
    (VPC, "cidr_block", "10.0.0.1/16", "cidr_block"),
    (VPC, "cidr_block", "10.0.0.0", "cidr_block"),
    (VPC, "cidr_block", "10.0.300.0/24", "cidr_block"),
    (VPC, "cidr_block", "fd00::/8", "cidr_block"),
    (VPC, "vpc_name", _DROP, "vpc_name"),
    (VPC, "vpc_name", "a", "vpc_name"),
    (VPC, "vpc_name", "a" * 129, "vpc_name"),
    (VPC, "vpc_name", "1vpc", "vpc_name"),
    (VPC, "vpc_name", "_vpc", "vpc_name"),
    (VPC, "vpc_name", "http://vpc", "vpc_name"),
    (VPC, "vpc_name", "https://vpc", "vpc_name"),
    (VPC, "vpc_name", "my vpc", "vpc_name"),
    (VPC, "vpc_name", "vpc:a", "vpc_name"),
    (SUB, "vpc_id", "vpc-unknown", "vpc_id"),
    (SUB, "vpc_id", _DROP, "vpc_id"),
    (SUB, "zone_id", _DROP, "zone_id"),
    (SUB, "account_key", "AKnotmine", "account_key"),
    (SUB, "cidr_block", "10.0.0.0/15", "cidr_block"),
    (SUB, "cidr_block", "10.0.0.0/30", "cidr_block"),
    (SUB, "cidr_block", "192.168.0.0/24", "cidr_block"),
    (SUB, "cidr_block", "10.1.0.1/24", "cidr_block"),
    (SUB, "switch_name", "v", "switch_name"),
    (SUB, "switch_name", "9vsw", "switch_name"),
    (SUB, "switch_name", "https://vsw", "switch_name"),
    (SUB, "switch_name", "v" * 129, "switch_name"),
    (SUB, "gateway_ip", "10.9.0.1", "gateway_ip"),
    (SUB, "gateway_ip", "gateway", "gateway_ip"),
    (SG, "vpc_id", "vpc-unknown", "vpc_id"),
    (SG, "security_group_name", "s", "security_group_name"),
    (SG, "security_group_name", "1sg", "security_group_name"),
    (SG, "security_group_name", "sg/a", "security_group_name"),
    (SG, "security_group_name", "http://sg", "security_group_name"),
    (SG, "security_group_name", "s" * 129, "security_group_name"),
    (SG, "security_group_type", "special", "security_group_type"),
    (SG, "rules", _DROP, "rules"),
    (SG, "rules", MANY + [ALL], "rules"),
    (SG, "rules.0.protocol", "TCP", "rules.0.protocol"),
    (SG, "rules.0.protocol", "icmpv6", "rules.0.protocol"),
    (SG, "rules.0.direction", "inbound", "rules.0.direction"),
    (SG, "rules.0.port_range", "0/22", "rules.0.port_range"),
    (SG, "rules.0.port_range", "22/21", "rules.0.port_range"),
    (SG, "rules.0.port_range", "1/65536", "rules.0.port_range"),
    (SG, "rules.0.port_range", "22", "rules.0.port_range"),
    (SG, "rules.0.port_range", "-1/-1", "rules.0.port_range"),
    (SG, "rules.0.port_range", _DROP, "rules.0.port_range"),
    (SG, "rules.0", _rule("udp", "1-100"), "rules.0.port_range"),
    (SG, "rules.0", _rule("icmp", "22/22"), "rules.0.port_range"),
    (SG, "rules.0", _rule("gre", "1/65535"), "rules.0.port_range"),
    (SG, "rules.0", _rule("all", "0/0"), "rules.0.port_range"),
    (SG, "rules.0", _rule("tcp", port_from=0, port_to=0), "rules.0.port_range"),
    (SG, "rules.0.group_id", "sg-peer", "rules.0.group_id"),  # both peers
    (SG, "rules.0.cidr_ip", "10.0.0.0/33", "rules.0.cidr_ip"),
    (NET, "cidr_block", _DROP, "cidr_block"),
    (NET, "cidr_block", "10.0.0.0/25", "cidr_block"),
    (NET, "switch_cidr_block", "10.1.0.0/24", "switch_cidr_block"),  # outside the VPC
    (NET, "switch_cidr_block", "10.0.0.0/30", "switch_cidr_block"),
    (NET, "zone_id", _DROP, "zone_id"),
    (NET, "security_group_type", _DROP, "security_group_type"),
    (NET, "gateway_ip", "10.0.2.1", "gateway_ip"),
    (NET, "vpc_name", "9net", "vpc_name"),
    (NET, "switch_name", "x", "switch_name"),
    (NET, "security_group_name", "https://sg", "security_group_name"),
    (NET, "ak", "AKnotmine", "ak"),
    (NET, "rules.0.protocol", "tcp", "rules.0.port_range"),  # the template's 0/0 is only for portless protocols
    (NET, "rules", MANY + [ALL], "rules"),
    (NET, "colour", "blue", "colour"),  # unknown fields are rejected
]

# Boundary values that pass (and reach the cloud).
GOOD = [
    (VPC, "cidr_block", "10.0.0.0/8"), (VPC, "cidr_block", "172.16.0.0/12"), (VPC, "cidr_block", "192.168.0.0/16"),
    (VPC, "cidr_block", "192.168.255.0/24"), (VPC, "cidr_block", _DROP),
    (VPC, "vpc_name", "ab"), (VPC, "vpc_name", "v" * 128), (VPC, "vpc_name", "默认"), (VPC, "vpc_name", "a1._-"),
    (VPC, "vpc_name", "httpvpc"),
    (SUB, "cidr_block", "10.0.0.0/16"), (SUB, "cidr_block", "10.255.255.248/29"),
    (SUB, "switch_name", "交换机1"), (SUB, "switch_name", "s" * 128), (SUB, "gateway_ip", "10.1.0.254"),
    (SG, "security_group_name", "sg:web_1.a-b"), (SG, "security_group_name", "g" * 128),
    (SG, "security_group_type", "enterprise"), (SG, "rules", []), (SG, "rules", MANY),
    (SG, "rules.0.port_range", "1/65535"), (SG, "rules.0.port_range", "65535/65535"),
    (SG, "rules.0", _rule("udp", "1/1")), (SG, "rules.0", _rule("icmp", "-1/-1")),
    (SG, "rules.0", _rule("gre", "-1/-1")), (SG, "rules.0", ALL),
    (SG, "rules.0", _rule("all", port_from=0, port_to=0)), (SG, "rules.0", _rule("tcp", port_from=80, port_to=81)),
    (NET, "switch_cidr_block", "10.0.0.0/16"), (NET, "rules", _DROP), (NET, "cidr_block", "10.0.0.0/8"),
    # issue 12: a rule with no peer is open to everyone (ComandX's dialog has no peer box)
    (SG, "rules.0.cidr_ip", _DROP), (SG, "rules.0.cidr_ip", ""),
]


def _set(body, path, value):
    keys = path.split(".")
    target = body
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = int(keys[-1]) if isinstance(target, list) else keys[-1]
    if value is _DROP:
        del target[last]
    else:
        target[last] = copy.deepcopy(value)


@pytest.fixture
def bodies(api, sim, sim_accounts):
    """A valid body per route; subnets and groups go into a stored 10.0.0.0/8 VPC."""
    key = sim_accounts["AlibabaCloud"]
    status, resp = api.post(VPC, {"provider": "AlibabaCloud", "region_id": REGION, "cidr_block": "10.0.0.0/8",
                                  "vpc_name": "base", "ak": key})
    assert status == 200, resp
    template = api.get("network_config/template", provider="AlibabaCloud")[1]["data"]
    return {
        VPC: {"provider": "AlibabaCloud", "region_id": REGION, "cidr_block": "10.0.0.0/16", "vpc_name": "vpc-a",
              "ak": key},
        SUB: {"zone_id": ZONE, "cidr_block": "10.1.0.0/24", "vpc_id": resp["data"], "switch_name": "vsw-a"},
        SG: {"vpc_id": resp["data"], "security_group_name": "sg-a", "rules": [dict(SSH), dict(ALL)]},
        NET: dict(network_body("AlibabaCloud"), rules=template["rules"]),
    }


@pytest.mark.parametrize("route,path,value,field", BAD, ids=[f"{r}:{p}={v!r:.24}" for r, p, v, _ in BAD])
def test_each_rule_rejects_a_bad_value_before_any_cloud_call(api, sim, bodies, route, path, value, field):
    body = copy.deepcopy(bodies[route])
    _set(body, path, value)
    calls = cloud_calls(sim)
    status, resp = api.post(route, body)
    assert status == 400 and resp["msg"] == "param_invalid", resp
    assert field in resp["data"], resp["data"]
    assert cloud_calls(sim) == calls


@pytest.mark.parametrize("route,path,value", GOOD, ids=[f"{r}:{p}={v!r:.24}" for r, p, v in GOOD])
def test_boundary_values_pass(api, sim, bodies, route, path, value):
    body = copy.deepcopy(bodies[route])
    _set(body, path, value)
    status, resp = api.post(route, body)
    assert status == 200, resp


# ---------------------------------------------------------------- store-only behaviour
def test_paging_is_stable(api, account, app):
    from app.auth.models import User
    from app.extensions import db
    from app.network.models import Vpc
    with app.app_context():
        org = db.session.scalar(select(User.org_id).where(User.username == api.username))
        db.session.add_all(Vpc(org_id=org, account_id=account["id"], provider="AlibabaCloud", region_id=REGION,
                               vpc_id=f"vpc-{i:02d}", name=f"v{i}", cidr_block="10.0.0.0/16", status="Available")
                           for i in range(23))
        db.session.commit()
    seen = []
    for page in (1, 2, 3):
        status, resp = api.get("vpc/describe", page_number=page, page_size=10)
        assert status == 200 and resp["data"]["Pager"] == {"PageNumber": page, "PageSize": 10, "Total": 23}
        seen += [v["VpcId"] for v in resp["data"]["Vpcs"]]
    assert sorted(seen) == [f"vpc-{i:02d}" for i in range(23)]
    assert api.get("vpc/describe", page_size=500)[1]["data"]["Pager"]["PageSize"] == 50
    assert api.get("vpc/describe", page_number=0)[1]["data"]["Pager"]["PageNumber"] == 1
    assert api.get("vpc/describe", provider="Nope")[0] == 400


def test_template_is_the_manuals_body(api, account):
    status, resp = api.get("network_config/template", provider="TencentCloud")
    assert status == 200
    assert resp["data"] == {
        "provider": "TencentCloud", "region_id": "", "cidr_block": "10.0.0.0/16", "vpc_name": "默认的vpc",
        "zone_id": "", "switch_cidr_block": "10.0.0.0/24", "gateway_ip": "10.0.0.254", "switch_name": "默认的子网",
        "security_group_name": "默认的安全组", "security_group_type": "normal", "ak": "",
        "rules": [{"protocol": "all", "port_from": 0, "port_to": 0, "direction": d, "group_id": "",
                   "cidr_ip": "0.0.0.0/0", "prefix_list_id": ""} for d in ("ingress", "egress")]}
    assert api.get("network_config/template", provider="AlibabaCloud")[1]["data"]["ak"] == account["account_key"]
    assert api.get("network_config/template")[0] == 400
    assert api.get("network_config/template", provider="OracleCloud")[0] == 400

"""Network routes as ComandX sends them (issue 12, item 4): its exact bodies and queries, checked
against the emulator's inventory, through the real SDK of every cloud."""
from __future__ import annotations

import pytest

from tests.conftest import CATALOG, SIM_KEYS, SIM_SECRET, account_body

PROVIDERS = list(CATALOG)


@pytest.fixture
def net(api, sim):
    """net(provider) → (account key, region, zone, stored VPC id) for a VPC created through the API."""
    def _make(provider="AlibabaCloud"):
        region, zone, _, _ = CATALOG[provider]
        status, body = api.post("cloud_account/create", account_body(provider, key=SIM_KEYS[provider],
                                                                     secret=SIM_SECRET, endpoint=sim.url))
        assert status == 200, body
        status, body = api.post("vpc/create", {"provider": provider, "region_id": region, "cidr_block": "10.0.0.0/16",
                                               "vpc_name": "web", "ak": SIM_KEYS[provider]})
        assert status == 200, body
        return SIM_KEYS[provider], region, zone, body["data"]
    return _make


def sim_group(sim, provider, region, group_id):
    [group] = [g for g in sim.cloud.security_groups(provider, region) if g.group_id == group_id]
    return group


@pytest.mark.parametrize("provider", PROVIDERS)
def test_subnet_create_as_comandx_sends_it(api, sim, net, provider):
    key, region, zone, vpc_id = net(provider)
    # subnetCreate(provider, account_key, region_id, zone_id, cidr_block, vpc_id, switch_name, gateway_ip)
    body = {"provider": provider, "zone_id": zone, "cidr_block": "10.0.1.0/24", "vpc_id": vpc_id,
            "switch_name": "web-a", "gateway_ip": "", "account_key": key, "region_id": region}
    status, resp = api.post("subnet/create", body)
    assert status == 200 and isinstance(resp["data"], str), resp
    assert resp["data"] in {s.subnet_id for s in sim.cloud.subnets(provider, region, vpc_id)}
    # subnetDescribe(vpc_id, zone_id): reads Switches[].SwitchId, SwitchName, CidrBlock, ZoneId
    status, resp2 = api.get("subnet/describe", vpc_id=vpc_id, zone_id=zone)
    [row] = resp2["data"]["Switches"]
    assert (row["SwitchId"], row["SwitchName"], row["CidrBlock"], row["ZoneId"]) == \
        (resp["data"], "web-a", "10.0.1.0/24", zone)


def test_subnet_describe_honours_zone_id(api, sim, net):
    key, region, zone, vpc_id = net()
    api.post("subnet/create", {"zone_id": zone, "cidr_block": "10.0.1.0/24", "vpc_id": vpc_id, "switch_name": "a"
                               "a", "gateway_ip": ""})
    assert api.get("subnet/describe", vpc_id=vpc_id, zone_id="cn-qingdao-c")[1]["data"]["Switches"] == []
    assert len(api.get("subnet/describe", vpc_id=vpc_id, zone_id="")[1]["data"]["Switches"]) == 1


def test_subnet_create_checks_comandx_place_against_the_vpc(api, sim, net):
    key, region, zone, vpc_id = net()
    body = {"provider": "TencentCloud", "zone_id": zone, "cidr_block": "10.0.1.0/24", "vpc_id": vpc_id,
            "switch_name": "web-a", "gateway_ip": "", "account_key": key, "region_id": region}
    status, resp = api.post("subnet/create", body)
    assert status == 400 and "provider" in resp["data"]
    status, resp = api.post("subnet/create", dict(body, provider="AlibabaCloud", region_id="cn-beijing"))
    assert status == 400 and "region_id" in resp["data"]
    status, resp = api.post("subnet/create", dict(body, provider="AlibabaCloud", colour="red"))
    assert status == 400 and "colour" in resp["data"]  # a true unknown is still refused
    assert sim.cloud.subnets("AlibabaCloud", region, vpc_id) == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create_with_rule_as_comandx_sends_it(api, sim, net, provider):
    key, region, zone, vpc_id = net(provider)
    # the dialog's rows: port boxes as numbers, no peer, and its untouched blank row
    rules = [{"protocol": "tcp", "port_from": 22, "port_to": 22, "direction": "ingress"},
             {"protocol": "", "port_from": 0, "port_to": 0, "direction": "ingress"}]
    status, resp = api.post("security_group/create_with_rule", {"account_key": key, "region_id": region,
                                                                "vpc_id": vpc_id, "security_group_name": "web-sg",
                                                                "rules": rules})
    assert status == 200 and isinstance(resp["data"], str), resp
    group = sim_group(sim, provider, region, resp["data"])
    ssh = [r for r in group.rules if r.protocol == "tcp"]
    assert [(r.direction, r.from_port, r.to_port, r.cidr) for r in ssh] == [("ingress", 22, 22, "0.0.0.0/0")]
    # securityGroupDescribe(account_key, region_id, vpc_id): reads Groups[].SecurityGroupId, SecurityGroupName
    _, groups = api.get("security_group/describe", vpc_id=vpc_id, account_key=key, region_id=region)
    assert [(g["SecurityGroupId"], g["SecurityGroupName"]) for g in groups["data"]["Groups"]] == \
        [(resp["data"], "web-sg")]
    _, other = api.get("security_group/describe", vpc_id=vpc_id, account_key="AKsomeoneelse", region_id=region)
    assert other["data"]["Groups"] == []  # the account filter is honoured
    # the detail page: security_group/<id>/rules with its extra (ignored) query
    status, info = api.get(f"security_group/{resp['data']}/rules", vpc_id=vpc_id, provider=provider, region_id=region)
    assert status == 200
    assert {"protocol": "tcp", "port_range": "22/22", "direction": "ingress"}.items() <= \
        [r for r in info["data"]["rules"] if r["protocol"] == "tcp"][0].items()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_security_group_create_and_rule_add(api, sim, net, provider):
    key, region, zone, vpc_id = net(provider)
    # securityGroupCreate(account_key, region_id, vpc_id, security_group_name)
    status, resp = api.post("security_group/create", {"account_key": key, "region_id": region, "vpc_id": vpc_id,
                                                      "security_group_name": "bare"})
    assert status == 200 and isinstance(resp["data"], str), resp
    group_id = resp["data"]
    before = {(r.direction, r.protocol, r.from_port, r.cidr) for r in sim_group(sim, provider, region, group_id).rules}
    assert not any(r[1] == "tcp" for r in before)
    # BridgX's body: a rules list (group_id as the peer of one of them)
    status, resp = api.post("security_group/rule/add", {
        "account_key": key, "region_id": region, "vpc_id": vpc_id, "security_group_id": group_id,
        "rules": [{"protocol": "tcp", "port_from": 443, "port_to": 443, "direction": "ingress",
                   "cidr_ip": "10.0.0.0/8"}]})
    assert (status, resp["data"]) == (200, ""), resp
    # ComandX's helper: one flat rule, no account_key
    status, resp = api.post("security_group/rule/add", {
        "region_id": region, "vpc_id": vpc_id, "security_group_id": group_id, "protocol": "tcp",
        "port_range": "80/80", "direction": "ingress", "group_id": "", "cidr_ip": "192.168.0.0/16",
        "prefix_list_id": ""})
    assert (status, resp["data"]) == (200, ""), resp
    after = {(r.direction, r.protocol, r.from_port, r.to_port, r.cidr)
             for r in sim_group(sim, provider, region, group_id).rules if r.protocol == "tcp"}
    assert after == {("ingress", "tcp", 443, 443, "10.0.0.0/8"), ("ingress", "tcp", 80, 80, "192.168.0.0/16")}
    # the store follows the cloud
    _, info = api.get(f"security_group/{group_id}/rules")
    assert {r["port_range"] for r in info["data"]["rules"] if r["protocol"] == "tcp"} == {"443/443", "80/80"}


def test_rule_add_refuses_bad_input_before_the_cloud(api, sim, net):
    key, region, zone, vpc_id = net()
    group_id = api.post("security_group/create", {"vpc_id": vpc_id, "security_group_name": "bare"})[1]["data"]
    calls = len(sim.requests)
    cases = [
        ({"security_group_id": "sg-nope", "rules": [{"protocol": "all", "port_range": "-1/-1",
                                                      "direction": "ingress"}]}, "security_group_id"),
        ({"security_group_id": group_id, "rules": []}, "rules"),
        ({"security_group_id": group_id, "protocol": "tcp", "port_range": "0/80", "direction": "ingress"},
         "rules.0.port_range"),
        ({"security_group_id": group_id, "region_id": "cn-beijing", "rules": [
            {"protocol": "all", "port_range": "-1/-1", "direction": "ingress"}]}, "region_id"),
        ({"security_group_id": group_id, "rules": [{"protocol": "tcp", "port_range": "22/22", "direction": "in"
                                                    "gress", "cidr_ip": "10.0.0.0/8", "group_id": "sg-x"}]},
         "rules.0.group_id"),
    ]
    for body, field in cases:
        status, resp = api.post("security_group/rule/add", body)
        assert status == 400 and field in resp["data"], (body, resp)
    assert len(sim.requests) == calls


def test_security_group_create_refuses_rules_and_other_regions(api, sim, net):
    key, region, zone, vpc_id = net()
    status, resp = api.post("security_group/create", {"vpc_id": vpc_id, "security_group_name": "bare",
                                                      "region_id": "cn-beijing"})
    assert status == 400 and "region_id" in resp["data"]
    status, resp = api.post("security_group/create", {"vpc_id": vpc_id, "security_group_name": "bare",
                                                      "rules": [{"protocol": "tcp", "port_range": "22/22",
                                                                 "direction": "ingress"}]})
    assert status == 400 and "rules" in resp["data"]  # rules go through create_with_rule


def test_another_organisation_cannot_use_my_vpc_or_group(api, make_user, sim, net):
    key, region, zone, vpc_id = net()
    group_id = api.post("security_group/create", {"vpc_id": vpc_id, "security_group_name": "mine"})[1]["data"]
    other = make_user("someone-else")
    calls = len(sim.requests)
    status, resp = other.post("security_group/rule/add", {"security_group_id": group_id, "rules": [
        {"protocol": "tcp", "port_range": "22/22", "direction": "ingress"}]})
    assert status == 400 and "security_group_id" in resp["data"]
    status, resp = other.post("security_group/create", {"vpc_id": vpc_id, "security_group_name": "theirs"})
    assert status == 400 and "vpc_id" in resp["data"]
    assert len(sim.requests) == calls

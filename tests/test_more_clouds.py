"""HuaweiCloud and BaiduCloud through the HTTP API: the real drivers and SDKs against the emulator.

For each cloud: keys verified (a wrong secret refused), the catalogue listed, a network created and
then seen by the describe, info and sync routes, and a cluster expanded by 30, shrunk by count and
by IPs, with its inventory and usage.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import CATALOG, SIM_KEYS, SIM_SECRET, account_body, new_secret

PROVIDERS = ["HuaweiCloud", "BaiduCloud"]
SSH = {"protocol": "tcp", "port_range": "22/22", "direction": "ingress", "cidr_ip": "10.0.0.0/8"}


@pytest.fixture
def verifying(app, monkeypatch):
    monkeypatch.setitem(app.config, "VERIFY_ACCOUNTS", True)


def add_account(api, sim, provider):
    status, body = api.post("cloud_account/create", account_body(provider, key=SIM_KEYS[provider], secret=SIM_SECRET,
                                                                 endpoint=sim.url))
    assert status == 200, body
    return body["data"]


# ---------------------------------------------------------------- accounts and catalogue
@pytest.mark.parametrize("provider", PROVIDERS)
def test_keys_are_verified_with_the_cloud(api, sim, verifying, provider):
    key = SIM_KEYS[provider]
    status, body = api.post("cloud_account/create", account_body(provider, key=key, secret=new_secret(),
                                                                 endpoint=sim.url))
    assert status == 400 and "rejected" in body["data"]["account_secret"], body
    assert api.get("cloud_account/list")[1]["data"]["pager"]["total"] == 0
    account = add_account(api, sim, provider)
    assert account["provider"] == provider and account["endpoint"] == sim.url
    assert [(r.provider, r.outcome) for r in sim.requests if r.access_key == key] == [
        (provider, "APIGW.0301" if provider == "HuaweiCloud" else "SignatureDoesNotMatch"), (provider, "ok")]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_regions_zones_instance_types_and_images(api, sim, provider):
    region, zone, itype, image = CATALOG[provider]
    add_account(api, sim, provider)
    status, regions = api.get("region/list", provider=provider)
    assert status == 200 and region in {r["RegionId"] for r in regions["data"]}
    assert all(r["LocalName"] for r in regions["data"])
    status, zones = api.get("zone/list", provider=provider, region_id=region)
    assert status == 200 and zone in {z["ZoneId"] for z in zones["data"]}
    status, types = api.get("instance_type/list", provider=provider, region_id=region, zone_id=zone)
    assert status == 200, types
    [mine] = [t for t in types["data"] if t["instance_type"] == itype]
    family, cores, memory = {"s6.large.2": ("s6", 2, 4), "bcc.g4.c2m8": ("bcc.g4", 2, 8)}[itype]
    assert (mine["instance_type_family"], mine["core"], mine["memory"]) == (family, cores, memory)
    status, images = api.get("image/list", provider=provider, region_id=region)
    assert status == 200 and image in {i["ImageId"] for i in images["data"]}
    assert all(i["OsType"] == "linux" and i["OsName"] for i in images["data"])


# ---------------------------------------------------------------- network
@pytest.mark.parametrize("provider", PROVIDERS)
def test_network_config_create_describe_info_and_sync(api, sim, provider):
    region, zone, _, _ = CATALOG[provider]
    account = add_account(api, sim, provider)
    status, template = api.get("network_config/template", provider=provider)
    assert status == 200 and template["data"]["ak"] == account["account_key"]
    body = dict(template["data"], region_id=region, zone_id=zone, vpc_name="web-net", switch_name="web-vsw",
                security_group_name="web-sg", rules=template["data"]["rules"] + [SSH])
    status, resp = api.post("network_config/create", body)
    assert status == 200, resp
    vpc_id = resp["data"]
    assert [v.vpc_id for v in sim.cloud.vpcs(provider, region)] == [vpc_id]

    _, vpcs = api.get("vpc/describe", provider=provider, region_id=region)
    [vpc] = vpcs["data"]["Vpcs"]
    assert (vpc["VpcId"], vpc["VpcName"], vpc["CidrBlock"], vpc["Provider"]) == (vpc_id, "web-net", "10.0.0.0/16",
                                                                                 provider)
    assert vpc["CreateAt"].endswith("+0800 CST")
    _, subnets = api.get("subnet/describe", vpc_id=vpc_id)
    [subnet] = subnets["data"]["Switches"]
    assert (subnet["ZoneId"], subnet["SwitchName"], subnet["CidrBlock"]) == (zone, "web-vsw", "10.0.0.0/24")
    assert 0 < subnet["AvailableIpAddressCount"] <= 256 and vpc["SwitchIds"] == subnet["SwitchId"]
    _, groups = api.get("security_group/describe", vpc_id=vpc_id, region_id=region)
    [group] = groups["data"]["Groups"]
    assert (group["VpcId"], group["SecurityGroupName"]) == (vpc_id, "web-sg")
    [cloud_group] = sim.cloud.security_groups(provider, region, ids={group["SecurityGroupId"]})
    assert {("tcp", 22, 22, "10.0.0.0/8"), ("all", -1, -1, "0.0.0.0/0")} <= {
        (r.protocol, r.from_port, r.to_port, r.cidr) for r in cloud_group.rules if r.direction == "ingress"}

    status, info = api.get(f"vpc/info/{vpc_id}")
    assert status == 200 and info["data"] == {k: v for k, v in vpc.items() if k != "SwitchIds"}
    status, info = api.get(f"subnet/info/{subnet['SwitchId']}", vpc_id=vpc_id)
    assert status == 200 and info["data"] == subnet
    status, rules = api.get(f"security_group/{group['SecurityGroupId']}/rules")
    assert status == 200 and ("tcp", "22/22", "ingress", "10.0.0.0/8") in {
        (r["protocol"], r["port_range"], r["direction"], r["cidr_ip"]) for r in rules["data"]["rules"]}

    # a VPC made in the cloud behind our back is found by sync, and a second sync changes nothing
    outside = sim.add_vpc(provider, region, "outside", "192.168.0.0/16")
    sync = {"provider": provider, "region_id": region, "account_key": account["account_key"]}
    assert api.post("network_config/sync", sync) == (200, {"code": 200, "msg": "success", "data": None})
    _, vpcs = api.get("vpc/describe", provider=provider, region_id=region)
    assert {v["VpcId"] for v in vpcs["data"]["Vpcs"]} == {vpc_id, outside}
    assert api.get(f"vpc/info/{outside}")[1]["data"]["VpcName"] == "outside"
    assert api.post("network_config/sync", sync)[0] == 200
    assert api.get(f"subnet/info/{subnet['SwitchId']}", vpc_id=vpc_id)[1]["data"] == subnet


# ---------------------------------------------------------------- clusters, scaling, inventory, usage
def running(api, cluster: str) -> list[dict]:
    status, body = api.get("instance/describe_all", cluster_name=cluster, status="Running", page_size=100)
    assert status == 200, body
    return body["data"]["instance_list"]


def task(api, path: str, body: dict) -> dict:
    status, resp = api.post(path, body)
    assert status == 200, resp
    status, info = api.get("task/describe", task_id=resp["data"])
    assert status == 200, info
    return info["data"]


def live_in_cloud(sim, provider: str) -> set:
    return {i.instance_id for i in sim.instances(provider=provider)}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expand_30_shrink_by_count_and_ips_and_usage(app, api, sim, cloud_cluster, monkeypatch, provider):
    region, zone, itype, _ = CATALOG[provider]
    cluster = cloud_cluster(provider, name=f"web-{provider.lower()}")
    status, described = api.get(f"cluster/name/{cluster}")
    assert status == 200 and described["data"]["provider"] == provider

    info = task(api, "cluster/expand", {"task_name": "grow", "cluster_name": cluster, "count": 30})
    assert info["task_status"] == "SUCCESS", info
    assert (info["success_num"], info["fail_num"], info["after_instance_count"]) == (30, 0, 30)
    rows = running(api, cluster)
    assert len(rows) == 30 and all(r["ip_inner"] and r["provider"] == provider for r in rows)
    assert {r["instance_id"] for r in rows} == live_in_cloud(sim, provider)
    assert all(i.status == "running" and (i.zone, i.instance_type) == (zone, itype)
               for i in sim.instances(provider=provider))
    assert api.get("instance/num", cluster_name=cluster)[1]["data"]["instance_num"] == 30
    status, one = api.get("instance/id/describe", instance_id=rows[0]["instance_id"])
    assert status == 200 and one["data"]["instance_id"] == rows[0]["instance_id"]

    info = task(api, "cluster/shrink", {"task_name": "trim", "cluster_name": cluster, "count": 5})
    assert info["task_status"] == "SUCCESS" and info["success_num"] == 5, info
    rows = running(api, cluster)
    assert len(rows) == 25 and {r["instance_id"] for r in rows} == live_in_cloud(sim, provider)

    ips = [r["ip_inner"] for r in rows[:3]]
    info = task(api, "cluster/shrink", {"task_name": "pick", "cluster_name": cluster, "ips": ips, "count": 3})
    assert info["task_status"] == "SUCCESS", info
    rows = running(api, cluster)
    assert len(rows) == 22 and not set(ips) & {r["ip_inner"] for r in rows}
    assert {r["instance_id"] for r in rows} == live_in_cloud(sim, provider)
    apis = {r.api for r in sim.requests if r.provider == provider and r.outcome == "ok"}
    assert {"HuaweiCloud": {"CreateServers", "ShowJob", "ListServersDetails", "DeleteServers"},
            "BaiduCloud": {"CreateInstanceBySpec", "ListInstances", "BatchDeleteInstances"}}[provider] <= apis

    # usage, ten minutes on: the 22 still running each count ten minutes (or since midnight)
    later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=10)
    monkeypatch.setattr("app.usage.service.utcnow", lambda: later)
    with app.app_context():
        from app.core.timefmt import deployment_zone
        day = later.replace(tzinfo=timezone.utc).astimezone(deployment_zone()).date().isoformat()
    status, total = api.get("instance/usage_total", date=day, cluster_name=cluster)
    assert status == 200 and total["data"]["usage_total"] >= 22 * 60, total
    status, stats = api.get("instance/usage_statistics", date=day, cluster_name=cluster, page_size=50)
    assert status == 200 and stats["data"]["pager"]["total"] == 30
    assert sum(r["startup_time"] for r in stats["data"]["instance_list"]) == total["data"]["usage_total"]
    assert {r["instance_type"] for r in stats["data"]["instance_list"]} == {itype}

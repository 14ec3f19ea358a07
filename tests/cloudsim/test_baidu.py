"""BaiduCloud BCC + VPC face, driven by the real bce-python-sdk clients (NoRetryPolicy)."""
import json
import urllib.error
import urllib.request

import pytest
from baidubce.exception import BceHttpClientError, BceServerError
from baidubce.services.bcc import bcc_model

from _poll import wait_until

ZONE, SPEC, IMAGE = "cn-bj-a", "bcc.g4.c2m8", "m-jDhcEVZs"


def body(response) -> dict:
    raw = getattr(response, "raw_data", None)
    return json.loads(raw) if raw else {}


def error(exc_info) -> BceServerError:
    last = exc_info.value.last_error
    assert isinstance(last, BceServerError), last
    return last


@pytest.fixture
def bcc(baidu):
    return baidu("bcc")


@pytest.fixture
def net(baidu, bcc):
    vpc = body(baidu("vpc").create_vpc("v", "10.0.0.0/16"))["vpcId"]
    subnet = body(baidu("subnet").create_subnet("s", ZONE, "10.0.0.0/18", vpc, subnet_type="BCC"))["subnetId"]
    group = body(bcc.create_security_group("g", [], vpc_id=vpc))["securityGroupId"]
    return vpc, subnet, group


def create(bcc, net, count=2, token="tok-1", tags=None, **extra):
    _, subnet, group = net
    return body(bcc.create_instance_by_spec(
        SPEC, IMAGE, purchase_count=count, zone_name=ZONE, subnet_id=subnet, security_group_id=group, name="bx",
        admin_pass="Passw0rd!2024", client_token=token,
        tags=[bcc_model.TagModel(tagKey=k, tagValue=v) for k, v in (tags or {"task": "t1"}).items()], **extra))


def test_client_token_pending_then_running_with_ips(sim, bcc, net):
    sim.configure(boot_seconds=1.0)  # long enough that the first describe still sees them pending
    first = create(bcc, net, count=3, network_capacity_in_mbps=10)
    ids = first["instanceIds"]
    assert len(ids) == 3 and all(i.startswith("i-") for i in ids)
    assert create(bcc, net, count=3, network_capacity_in_mbps=10)["instanceIds"] == ids
    assert len(sim.instances("BaiduCloud")) == 3
    listed = body(bcc.list_instances(instance_ids=",".join(ids)))["instances"]
    assert [i["status"] for i in listed] == ["Starting"] * 3

    def running():
        listed = body(bcc.list_instances(instance_ids=",".join(ids)))["instances"]
        return listed if [i["status"] for i in listed] == ["Running"] * 3 else None
    listed = wait_until(running, "three machines Running")
    for inst in listed:
        assert inst["internalIp"].startswith("10.0.") and inst["publicIp"]
        assert (inst["zoneName"], inst["spec"], inst["cpuCount"], inst["memoryCapacityInGB"]) == (ZONE, SPEC, 2, 8)
        assert inst["tags"] == [{"tagKey": "task", "tagValue": "t1"}]
    with pytest.raises(BceHttpClientError) as err:  # the same token, another request
        create(bcc, net, count=2)
    assert (error(err).status_code, error(err).code) == (409, "IdempotentParameterMismatch")


def test_list_pages_with_markers_and_tag_filters(sim, bcc, net):
    ids = create(bcc, net, count=25, tags={"task": "big", "team": "a"})["instanceIds"]
    create(bcc, net, count=2, token="tok-2", tags={"task": "small"})
    seen, marker = [], None
    while True:
        page = body(bcc.list_instances(**({"marker": marker} if marker else {}), max_keys=10, tags="task:big"))
        seen += [i["id"] for i in page["instances"]]
        if not page["isTruncated"]:
            break
        marker = page["nextMarker"]
        assert marker == ids[len(seen)]  # the marker is the first item of the next page
    assert seen == ids
    assert len(body(bcc.list_instances(tags="task:big,team:a"))["instances"]) == 25
    assert len(body(bcc.list_instances(tags="task"))["instances"]) == 27
    assert body(bcc.list_instances(tags="task:none"))["instances"] == []
    assert [i["id"] for i in body(bcc.list_instances(instance_ids=f"{ids[3]},i-N0tThere"))["instances"]] == [ids[3]]


def test_batch_delete_and_not_found(sim, bcc, net):
    ids = create(bcc, net, count=3)["instanceIds"]
    bcc.batch_delete_instance_with_related_resource(ids[:2], related_release_flag=True)
    assert [i["id"] for i in body(bcc.list_instances(tags="task:t1"))["instances"]] == ids[2:]
    with pytest.raises(BceHttpClientError) as err:  # one gone id fails the whole call
        bcc.batch_delete_instance_with_related_resource(ids)
    assert (error(err).status_code, error(err).code) == (404, "NoSuchObject")
    bcc.release_instance(ids[2])
    assert sim.instances("BaiduCloud") == []


def test_a_stopped_machine_is_stopped(sim, bcc, net):
    ids = create(bcc, net)["instanceIds"]
    sim.cloud.faults.kill("BaiduCloud", ids[:1], how="stop")
    listed = body(bcc.list_instances(instance_ids=",".join(ids)))["instances"]
    assert [(i["id"], i["status"]) for i in listed] == [(ids[0], "Stopped"), (ids[1], "Running")]


def test_capacity_quota_and_zone_mismatch(sim, bcc, net):
    sim.configure(capacity={("BaiduCloud", ZONE, SPEC): 2})
    with pytest.raises(BceHttpClientError) as err:
        create(bcc, net, count=3)
    assert (error(err).status_code, error(err).code) == (400, "Instance.StockInsufficient")
    sim.configure(capacity={}, quota={"BaiduCloud": 1})
    with pytest.raises(BceHttpClientError) as err:
        create(bcc, net, count=2, token="tok-q")
    assert error(err).code == "Instance.QuotaExceeded"
    assert sim.instances("BaiduCloud") == []
    sim.configure(quota={})
    with pytest.raises(BceHttpClientError) as err:
        bcc.create_instance_by_spec(SPEC, IMAGE, zone_name="cn-bj-b", subnet_id=net[1])
    assert error(err).code == "InappropriateJSON"


def test_errors_carry_request_id_code_and_message(sim, baidu, bcc, server):
    with pytest.raises(BceHttpClientError) as err:
        baidu("bcc", sk="wrong-secret-key-0123").list_zones()
    assert (error(err).status_code, error(err).code) == (400, "SignatureDoesNotMatch") and error(err).request_id
    with pytest.raises(BceHttpClientError) as err:
        baidu("vpc", ak="AKnobody").list_vpcs()
    assert (error(err).status_code, error(err).code) == (403, "InvalidAccessKeyId")
    sim.configure(throttle_rate=1.0)
    with pytest.raises(BceHttpClientError) as err:
        bcc.list_zones()
    assert (error(err).status_code, error(err).code) == (429, "RequestLimitExceeded")
    sim.configure(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(BceHttpClientError) as err:
        bcc.list_zones()
    assert (error(err).status_code, error(err).code) == (500, "InternalError")
    request = urllib.request.Request(server.url + "/v2/zone", headers={"Authorization": "bce-auth-v1/x"})
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(request)
    answer = json.load(raw.value)
    assert set(answer) == {"requestId", "code", "message"} and answer["code"] == "InvalidHTTPAuthHeader"
    assert raw.value.headers["x-bce-request-id"] == answer["requestId"]


def test_vpc_subnets_groups_and_rules(sim, baidu, bcc, net):
    vpc, subnet, group = net
    vpcs, subnets = baidu("vpc"), baidu("subnet")
    assert body(vpcs.create_vpc("v2", "10.1.0.0/16", client_token="t"))["vpcId"] == \
        body(vpcs.create_vpc("v2", "10.1.0.0/16", client_token="t"))["vpcId"]
    page = body(vpcs.list_vpcs(max_keys=1))
    assert (page["isTruncated"], [v["vpcId"] for v in page["vpcs"]]) == (True, [vpc])
    assert body(vpcs.list_vpcs(marker=page["nextMarker"]))["vpcs"][0]["name"] == "v2"
    [sub] = body(subnets.list_subnets(vpc_id=vpc))["subnets"]
    assert (sub["subnetId"], sub["zoneName"], sub["cidr"], sub["availableIp"]) == (subnet, ZONE, "10.0.0.0/18",
                                                                                    16384 - 3)
    rules = [bcc_model.SecurityGroupRuleModel(direction="ingress", protocol="tcp", portRange="8000-8080",
                                              sourceIp="10.0.0.0/8"),
             bcc_model.SecurityGroupRuleModel(direction="egress", protocol="", portRange="", destIp="")]
    web = body(bcc.create_security_group("web", rules, vpc_id=vpc, client_token="sg-1"))["securityGroupId"]
    bcc.authorize_security_group_rule(web, bcc_model.SecurityGroupRuleModel(direction="ingress", protocol="icmp",
                                                                             sourceGroupId=group))
    with pytest.raises(BceHttpClientError) as err:
        bcc.authorize_security_group_rule(web, rules[0])
    assert error(err).code == "SecurityGroup.RuleDuplicated"
    [listed] = [g for g in body(bcc.list_security_groups(vpc_id=vpc))["securityGroups"] if g["id"] == web]
    assert [(r["direction"], r["protocol"], r["portRange"], r.get("sourceIp") or r.get("destIp"),
             r.get("sourceGroupId")) for r in listed["rules"]] == [
        ("ingress", "tcp", "8000-8080", "10.0.0.0/8", ""), ("egress", "all", "", "0.0.0.0/0", ""),
        ("ingress", "icmp", "", "", group)]
    with pytest.raises(BceHttpClientError) as err:
        vpcs.delete_vpc(vpc)
    assert (error(err).status_code, error(err).code) == (409, "Vpc.VpcInUse")
    subnets.delete_subnet(subnet)
    bcc.delete_security_group(web)
    bcc.delete_security_group(group)
    vpcs.delete_vpc(vpc)
    with pytest.raises(BceHttpClientError) as err:
        vpcs.delete_vpc(vpc)
    assert (error(err).status_code, error(err).code) == (404, "NoSuchObject")


def test_catalogue(sim, bcc):
    regions = body(bcc.describe_regions(""))["regions"]
    assert ("bj", "bcc.bj.baidubce.com") in [(r["regionId"], r["regionEndpoint"]) for r in regions]
    assert [z["zoneName"] for z in body(bcc.list_zones())["zones"]] == ["cn-bj-a", "cn-bj-b", "cn-bj-c", "cn-bj-d"]
    sim.configure(capacity={("BaiduCloud", ZONE, "bcc.g5.c2m8"): 0})
    [zone] = body(bcc.list_flavor_spec(zone_name=ZONE))["zoneResources"]
    specs = {f["spec"]: f for g in zone["bccResources"]["flavorGroups"] for f in g["flavors"]}
    assert (specs[SPEC]["cpuCount"], specs[SPEC]["memoryCapacityInGB"]) == (2, 8)
    assert "bcc.g5.c2m8" not in specs  # sold out in this zone
    assert len(body(bcc.list_flavor_spec())["zoneResources"]) == 4
    first = body(bcc.list_images(max_keys=1))
    assert first["isTruncated"] and len(first["images"]) == 1
    rest = body(bcc.list_images(marker=first["nextMarker"]))
    assert IMAGE in {i["id"] for i in first["images"] + rest["images"]} and not rest["isTruncated"]
    assert all(i["osType"] == "linux" for i in rest["images"])

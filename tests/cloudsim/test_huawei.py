"""HuaweiCloud ECS (with the job API), VPC, IMS and IAM face, driven by the real huaweicloudsdk clients."""
import json
import uuid

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkecs.v2 import model as m
from huaweicloudsdkvpc.v2 import model as vm

from cloudsim.faces.huawei import project_id

from _poll import wait_until

ZONE, FLAVOR, IMAGE = "cn-north-4a", "s6.large.2", "67f433d8-ed0e-4321-a8a2-a71838539e09"


def body(response) -> dict:
    return json.loads(response.raw_content) if response.raw_content else {}


@pytest.fixture
def ecs(huawei):
    return huawei("ecs")


@pytest.fixture
def vpc_client(huawei):
    return huawei("vpc")


@pytest.fixture
def net(vpc_client):
    vpc = body(vpc_client.create_vpc(vm.CreateVpcRequest(body=vm.CreateVpcRequestBody(
        vpc=vm.CreateVpcOption(name="v", cidr="10.0.0.0/16")))))["vpc"]["id"]
    subnet = body(vpc_client.create_subnet(vm.CreateSubnetRequest(body=vm.CreateSubnetRequestBody(
        subnet=vm.CreateSubnetOption(name="s", cidr="10.0.0.0/18", gateway_ip="10.0.0.1", vpc_id=vpc,
                                     availability_zone=ZONE)))))["subnet"]["id"]
    group = body(vpc_client.create_security_group(vm.CreateSecurityGroupRequest(body=vm.CreateSecurityGroupRequestBody(
        security_group=vm.CreateSecurityGroupOption(name="g", vpc_id=vpc)))))["security_group"]["id"]
    return vpc, subnet, group


def create(ecs, net, count=2, token=None, tags=None, **extra):
    vpc, subnet, group = net
    server = m.PrePaidServer(
        image_ref=IMAGE, flavor_ref=FLAVOR, name="bx", vpcid=vpc, nics=[m.PrePaidServerNic(subnet_id=subnet)],
        root_volume=m.PrePaidServerRootVolume(volumetype="SSD", size=40), count=count, availability_zone=ZONE,
        security_groups=[m.PrePaidServerSecurityGroup(id=group)],
        server_tags=[m.PrePaidServerTag(key=k, value=v) for k, v in (tags or {"task": "t1"}).items()], **extra)
    token = token or str(uuid.uuid4())
    return body(ecs.create_servers(m.CreateServersRequest(x_client_token=token,
                                                          body=m.CreateServersRequestBody(server=server))))


def job(ecs, job_id) -> dict:
    return body(ecs.show_job(m.ShowJobRequest(job_id=job_id)))


def servers(ecs, **query) -> dict:
    return body(ecs.list_servers_details(m.ListServersDetailsRequest(**query)))


def test_async_create_with_job_and_client_token(sim, ecs, net):
    sim.configure(boot_seconds=1.0)  # long enough that the first describe still sees them pending
    token = str(uuid.uuid4())
    first = create(ecs, net, count=3, token=token)
    assert len(first["serverIds"]) == 3 and first["job_id"]
    assert create(ecs, net, count=3, token=token) == first  # X-Client-Token: the same job, nothing new
    assert len(sim.instances("HuaweiCloud")) == 3
    running = job(ecs, first["job_id"])
    assert running["status"] == "RUNNING" and running["job_type"] == "createServer"
    subs = running["entities"]["sub_jobs"]
    assert sorted(s["entities"]["server_id"] for s in subs) == sorted(first["serverIds"])
    wait_until(lambda: job(ecs, first["job_id"])["status"] == "SUCCESS", "the create job to succeed")
    found = servers(ecs, server_id=",".join(first["serverIds"]))["servers"]
    assert [s["status"] for s in found] == ["ACTIVE"] * 3
    for s in found:
        [fixed] = s["addresses"][net[0]]
        assert fixed["addr"].startswith("10.0.") and fixed["OS-EXT-IPS:type"] == "fixed"
        assert (s["OS-EXT-AZ:availability_zone"], s["flavor"]["id"], s["flavor"]["vcpus"]) == (ZONE, FLAVOR, "2")
        assert s["tags"] == ["task=t1"]
    with pytest.raises(ClientRequestException) as err:
        create(ecs, net, count=2, token=token)  # the same token, another request
    assert (err.value.status_code, err.value.error_code) == (400, "Ecs.0005")
    with pytest.raises(ClientRequestException) as err:
        create(ecs, net, token="not-a-uuid")
    assert err.value.error_code == "Ecs.0005"


def test_public_ip_prepaid_and_names(sim, ecs, net):
    made = create(ecs, net, count=2, publicip=m.PrePaidServerPublicip(eip=m.PrePaidServerEip(
        iptype="5_bgp", bandwidth=m.PrePaidServerEipBandwidth(size=5, sharetype="PER", chargemode="traffic"))),
        extendparam=m.PrePaidServerExtendParam(charging_mode="prePaid", period_type="month", period_num=1))
    assert made["order_id"]
    found = servers(ecs, server_id=",".join(made["serverIds"]))["servers"]
    assert sorted(s["name"] for s in found) == ["bx-0001", "bx-0002"]
    assert all([a["OS-EXT-IPS:type"] for a in s["addresses"][net[0]]] == ["fixed", "floating"] for s in found)


def test_list_pages_by_page_number_and_marker_and_filters(sim, ecs, net):
    ids = create(ecs, net, count=25, tags={"task": "big", "team": "a"})["serverIds"]
    create(ecs, net, count=2, tags={"task": "small"})
    first = servers(ecs, tags="task=big", limit=10)
    assert first["count"] == 25 and [s["id"] for s in first["servers"]] == ids[:10]
    # offset is a page number: 2 is the second page of 10, not the third server
    assert [s["id"] for s in servers(ecs, tags="task=big", limit=10, offset=2)["servers"]] == ids[10:20]
    assert [s["id"] for s in servers(ecs, tags="task=big", limit=10, offset=0)["servers"]] == ids[:10]
    assert [s["id"] for s in servers(ecs, tags="task=big", limit=10, marker=ids[19])["servers"]] == ids[20:]
    assert servers(ecs, tags="task=big,team=a")["count"] == 25
    assert servers(ecs, tags="task")["count"] == 27
    assert servers(ecs, tags="task=none")["count"] == 0
    # server_id wins over other filters; an unknown id gets an entry with id and fault only
    unknown = str(uuid.uuid4())
    listed = servers(ecs, server_id=f"{ids[0]},{unknown}", tags="task=none")["servers"]
    assert [(s["id"], s["status"]) for s in listed] == [(ids[0], "ACTIVE"), (unknown, None)]
    assert listed[1]["fault"]["code"] == 404
    with pytest.raises(ClientRequestException) as err:
        servers(ecs, limit=1001)
    assert err.value.error_code == "Ecs.0005"


def test_delete_servers(sim, ecs, net):
    ids = create(ecs, net, count=3)["serverIds"]
    deleted = body(ecs.delete_servers(m.DeleteServersRequest(body=m.DeleteServersRequestBody(
        servers=[m.ServerId(id=i) for i in ids[:2]], delete_publicip=True, delete_volume=True))))
    assert job(ecs, deleted["job_id"])["status"] == "SUCCESS"
    assert [s["id"] for s in servers(ecs, tags="task=t1")["servers"]] == ids[2:]
    with pytest.raises(ClientRequestException) as err:  # one gone id fails the whole call
        ecs.delete_servers(m.DeleteServersRequest(body=m.DeleteServersRequestBody(
            servers=[m.ServerId(id=i) for i in ids])))
    assert (err.value.status_code, err.value.error_code) == (404, "Ecs.0114")
    assert len(sim.instances("HuaweiCloud")) == 1
    with pytest.raises(ClientRequestException) as err:
        job(ecs, "ff8080800000000000000000000000ff")
    assert err.value.status_code == 404


def test_a_stopped_server_is_shutoff(sim, ecs, net):
    ids = create(ecs, net)["serverIds"]
    sim.cloud.faults.kill("HuaweiCloud", ids[:1], how="stop")
    found = {s["id"]: s for s in servers(ecs, server_id=",".join(ids))["servers"]}
    assert [(found[i]["status"], found[i]["OS-EXT-STS:vm_state"], found[i]["OS-EXT-STS:power_state"])
            for i in ids] == [("SHUTOFF", "stopped", 4), ("ACTIVE", "active", 1)]
    assert [s["id"] for s in servers(ecs, status="SHUTOFF")["servers"]] == ids[:1]


def test_capacity_fails_the_job_and_quota_fails_the_call(sim, ecs, net):
    sim.configure(capacity={("HuaweiCloud", ZONE, FLAVOR): 2})
    failed = create(ecs, net, count=3)
    assert len(failed["serverIds"]) == 3  # accepted ...
    done = job(ecs, failed["job_id"])
    assert (done["status"], done["error_code"]) == ("FAIL", "Ecs.0319")  # ... and failed by the job
    assert sim.instances("HuaweiCloud") == []
    assert servers(ecs, server_id=failed["serverIds"][0])["servers"][0]["status"] is None
    sim.configure(capacity={}, quota={"HuaweiCloud": 1})
    with pytest.raises(ClientRequestException) as err:
        create(ecs, net, count=2)
    assert (err.value.status_code, err.value.error_code) == (400, "Ecs.0001")


def test_gateway_errors(sim, huawei, ecs, net):
    with pytest.raises(ClientRequestException) as err:
        huawei("ecs", sk="wrong").nova_list_availability_zones(m.NovaListAvailabilityZonesRequest())
    assert (err.value.status_code, err.value.error_code) == (401, "APIGW.0301") and err.value.request_id
    with pytest.raises(ClientRequestException) as err:
        huawei("vpc", ak="AKnobody").list_vpcs(vm.ListVpcsRequest())
    assert (err.value.status_code, err.value.error_code) == (401, "APIGW.0301")
    sim.configure(throttle_rate=1.0)
    with pytest.raises(ClientRequestException) as err:
        create(ecs, net)
    assert (err.value.status_code, err.value.error_code) == (429, "APIGW.0308")
    with pytest.raises(ClientRequestException) as err:  # a GET: the SDK's urllib3 retry swallows the body
        ecs.nova_list_availability_zones(m.NovaListAvailabilityZonesRequest())
    assert (err.value.status_code, err.value.error_code) == (429, "429")
    sim.configure(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(ServerResponseException) as err:
        servers(ecs)
    assert (err.value.status_code, err.value.error_code) == (500, "Ecs.0002")
    outcomes = [r.outcome for r in sim.requests if r.outcome != "ok"]
    assert outcomes == ["APIGW.0301", "APIGW.0301", "APIGW.0308", "APIGW.0308", "Ecs.0002"]


def test_unknown_api_and_unsigned_request(sim, server):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(f"{server.url}/v1/{project_id('cn-north-4')}/cloudservers/detail",
                                     headers={"X-Sdk-Date": "20240101T000000Z"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 401 and json.load(err.value)["error_code"] == "APIGW.0301"


def test_vpc_subnets_groups_and_rules(sim, vpc_client, net):
    vpc, subnet, group = net
    listed = body(vpc_client.list_vpcs(vm.ListVpcsRequest()))["vpcs"]
    assert [(v["id"], v["cidr"], v["status"]) for v in listed] == [(vpc, "10.0.0.0/16", "OK")]
    [sub] = body(vpc_client.list_subnets(vm.ListSubnetsRequest(vpc_id=vpc)))["subnets"]
    assert (sub["id"], sub["gateway_ip"], sub["availability_zone"], sub["status"]) == (subnet, "10.0.0.1", ZONE,
                                                                                        "ACTIVE")
    [g] = body(vpc_client.list_security_groups(vm.ListSecurityGroupsRequest(vpc_id=vpc)))["security_groups"]
    defaults = {(r["direction"], r["protocol"], r["remote_ip_prefix"], r["remote_group_id"])
                for r in g["security_group_rules"]}
    assert defaults == {("egress", None, "0.0.0.0/0", None), ("egress", None, "::/0", None),
                        ("ingress", None, None, group)}

    def add_rule(**option):
        return body(vpc_client.create_security_group_rule(vm.CreateSecurityGroupRuleRequest(
            body=vm.CreateSecurityGroupRuleRequestBody(security_group_rule=vm.CreateSecurityGroupRuleOption(
                security_group_id=group, **option)))))["security_group_rule"]
    rule = add_rule(direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                    remote_ip_prefix="0.0.0.0/0")
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"]) == ("tcp", 22, 22)
    assert add_rule(direction="ingress", protocol="icmp", remote_ip_prefix="10.0.0.0/8")["port_range_min"] is None
    with pytest.raises(ClientRequestException) as err:
        add_rule(direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                 remote_ip_prefix="0.0.0.0/0")
    assert (err.value.status_code, err.value.error_code) == (409, "VPC.0614")
    with pytest.raises(ClientRequestException) as err:  # the API wants a gateway inside the block
        vpc_client.create_subnet(vm.CreateSubnetRequest(body=vm.CreateSubnetRequestBody(subnet=vm.CreateSubnetOption(
            name="s2", cidr="10.0.64.0/24", gateway_ip="10.9.9.1", vpc_id=vpc, availability_zone=ZONE))))
    assert err.value.status_code == 400
    with pytest.raises(ClientRequestException) as err:
        vpc_client.delete_vpc(vm.DeleteVpcRequest(vpc_id=vpc))
    assert (err.value.status_code, err.value.error_code) == (409, "VPC.0005")
    with pytest.raises(ClientRequestException) as err:  # the path names the VPC too
        vpc_client.delete_subnet(vm.DeleteSubnetRequest(vpc_id=str(uuid.uuid4()), subnet_id=subnet))
    assert err.value.status_code == 404
    vpc_client.delete_subnet(vm.DeleteSubnetRequest(vpc_id=vpc, subnet_id=subnet))
    vpc_client.delete_security_group(vm.DeleteSecurityGroupRequest(security_group_id=group))
    vpc_client.delete_vpc(vm.DeleteVpcRequest(vpc_id=vpc))
    with pytest.raises(ClientRequestException) as err:
        vpc_client.delete_vpc(vm.DeleteVpcRequest(vpc_id=vpc))
    assert (err.value.status_code, err.value.error_code) == (404, "VPC.0003")


def test_catalogue_and_project_regions(sim, huawei, huawei_get, ecs):
    regions = huawei_get("/v3/regions", {}, global_cred=True)["regions"]
    assert {"cn-north-4", "cn-east-3"} <= {r["id"] for r in regions}
    assert all(r["locales"]["zh-cn"] for r in regions)
    zones = body(ecs.nova_list_availability_zones(m.NovaListAvailabilityZonesRequest()))["availabilityZoneInfo"]
    assert [z["zoneName"] for z in zones] == ["cn-north-4a", "cn-north-4b", "cn-north-4c"]
    east = huawei("ecs", region="cn-east-3")  # each region has its own project
    zones = body(east.nova_list_availability_zones(m.NovaListAvailabilityZonesRequest()))["availabilityZoneInfo"]
    assert [z["zoneName"] for z in zones] == ["cn-east-3a", "cn-east-3b"]
    sim.configure(capacity={("HuaweiCloud", "cn-north-4b", FLAVOR): 0})
    flavors = {f["id"]: f for f in body(ecs.list_flavors(m.ListFlavorsRequest(availability_zone=ZONE)))["flavors"]}
    assert (flavors[FLAVOR]["vcpus"], flavors[FLAVOR]["ram"]) == ("2", 4096)
    assert "cn-north-4b(sellout)" in flavors[FLAVOR]["os_extra_specs"]["cond:operation:az"]
    first = huawei_get("/v2/cloudimages", {"__imagetype": "gold", "limit": 1})
    assert len(first["images"]) == 1 and first["next"]
    rest = huawei_get("/v2/cloudimages", {"__imagetype": "gold", "marker": first["images"][0]["id"]})
    assert IMAGE in {i["id"] for i in first["images"] + rest["images"]} and "next" not in rest
    assert all(i["__os_type"] == "Linux" for i in rest["images"])
    assert [(r.api, r.region) for r in sim.requests][:2] == [("KeystoneListRegions", "cn-north-4"),
                                                             ("NovaListAvailabilityZones", "cn-north-4")]

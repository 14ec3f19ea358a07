"""AlibabaCloud ECS + VPC face, driven by the real Tea SDK clients."""
import json

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_vpc20160428 import models as vpc_models

from _poll import wait_until


REGION, ZONE, TYPE = "cn-qingdao", "cn-qingdao-b", "ecs.g6.large"
IMAGE = "centos_7_6_x64_20G_alibase_20211030.vhd"


@pytest.fixture
def ecs(aliyun):
    return aliyun("ecs")


@pytest.fixture
def net(aliyun, ecs):
    """(vpc, vswitch, security group) made through the API."""
    vpc_client = aliyun("vpc")
    vpc = vpc_client.create_vpc(vpc_models.CreateVpcRequest(region_id=REGION, cidr_block="10.0.0.0/8",
                                                            vpc_name="v")).body.vpc_id
    vsw = vpc_client.create_vswitch(vpc_models.CreateVSwitchRequest(
        region_id=REGION, zone_id=ZONE, vpc_id=vpc, cidr_block="10.1.0.0/16", v_switch_name="s")).body.v_switch_id
    sg = ecs.create_security_group(ecs_models.CreateSecurityGroupRequest(
        region_id=REGION, vpc_id=vpc, security_group_name="g")).body.security_group_id
    return vpc, vsw, sg


def run(ecs, net, amount=2, token="tok-1", tags=None, **extra):
    _, vsw, sg = net
    request = ecs_models.RunInstancesRequest(
        region_id=REGION, zone_id=ZONE, image_id=IMAGE, instance_type=TYPE, v_switch_id=vsw, security_group_id=sg,
        amount=amount, client_token=token, password="Passw0rd!", internet_max_bandwidth_out=extra.pop("bw", 0),
        system_disk=ecs_models.RunInstancesRequestSystemDisk(category="cloud_essd", size="40"),
        data_disk=[ecs_models.RunInstancesRequestDataDisk(category="cloud_essd", size=100)],
        tag=[ecs_models.RunInstancesRequestTag(key=k, value=v) for k, v in (tags or {"task": "t1"}).items()], **extra)
    return ecs.run_instances(request).body.instance_id_sets.instance_id_set


def describe(ecs, **kwargs):
    tags = kwargs.pop("tags", None)
    if tags:
        kwargs["tag"] = [ecs_models.DescribeInstancesRequestTag(key=k, value=v) for k, v in tags.items()]
    return ecs.describe_instances(ecs_models.DescribeInstancesRequest(region_id=REGION, **kwargs)).body


def test_client_token_returns_same_ids(sim, ecs, net):
    first = run(ecs, net, amount=3)
    assert len(first) == 3 and all(i.startswith("i-") for i in first)
    assert run(ecs, net, amount=3) == first
    assert len(sim.instances("AlibabaCloud")) == 3
    with pytest.raises(ClientException) as err:
        run(ecs, net, amount=4)  # same token, other parameters
    assert err.value.code == "IdempotentParameterMismatch"


def test_pending_then_running_with_ips(sim, ecs, net):
    sim.configure(boot_seconds=1.0)  # long enough that the first describe still sees them pending
    ids = run(ecs, net, bw=5)
    body = describe(ecs, instance_ids=json.dumps(ids))
    assert [i.status for i in body.instances.instance] == ["Pending", "Pending"]

    def running():
        found = describe(ecs, instance_ids=json.dumps(ids)).instances.instance
        return found if [i.status for i in found] == ["Running", "Running"] else None
    found = wait_until(running, "both machines Running")
    for inst in found:
        assert inst.vpc_attributes.private_ip_address.ip_address[0].startswith("10.1.")
        assert inst.public_ip_address.ip_address  # bandwidth > 0 gives a public address
        assert (inst.zone_id, inst.instance_type, inst.cpu, inst.memory) == (ZONE, TYPE, 2, 8192)
        assert {t.tag_key: t.tag_value for t in inst.tags.tag} == {"task": "t1"}


def test_describe_by_tag_pages_with_next_token_and_page_number(sim, ecs, net):
    ids = run(ecs, net, amount=25, tags={"task": "big"})
    run(ecs, net, amount=3, token="other", tags={"task": "small"})
    seen, token = [], None
    while True:
        body = describe(ecs, tags={"task": "big"}, max_results=10, next_token=token)
        assert body.total_count == 25
        seen += [i.instance_id for i in body.instances.instance]
        token = body.next_token
        if not token:
            break
    assert seen == ids
    page3 = describe(ecs, tags={"task": "big"}, page_number=3, page_size=10)
    assert [i.instance_id for i in page3.instances.instance] == ids[20:]
    assert describe(ecs, tags={"task": None}).total_count == 28  # a tag key alone
    assert describe(ecs, instance_ids=json.dumps(["i-doesnotexist"])).total_count == 0


def test_instance_ids_must_be_a_json_array(sim, ecs, net):
    with pytest.raises(ClientException) as err:
        describe(ecs, instance_ids="i-1,i-2")
    assert err.value.code == "InvalidInstanceIds.Malformed"


def test_delete_needs_force_and_second_delete_is_not_found(sim, ecs, net):
    ids = run(ecs, net)
    with pytest.raises(ClientException) as err:
        ecs.delete_instances(ecs_models.DeleteInstancesRequest(region_id=REGION, instance_id=ids))
    assert err.value.code == "IncorrectInstanceStatus"
    ecs.delete_instances(ecs_models.DeleteInstancesRequest(region_id=REGION, instance_id=ids, force=True))
    assert describe(ecs, instance_ids=json.dumps(ids)).total_count == 0
    assert [i.status for i in sim.instances("AlibabaCloud", include_deleted=True)] == ["deleted", "deleted"]
    with pytest.raises(ClientException) as err:
        ecs.delete_instances(ecs_models.DeleteInstancesRequest(region_id=REGION, instance_id=ids, force=True))
    assert (err.value.code, err.value.status_code) == ("InvalidInstanceId.NotFound", 404)
    # the same ClientToken replays the first answer instead
    ids = run(ecs, net, token="tok-2")
    request = ecs_models.DeleteInstancesRequest(region_id=REGION, instance_id=ids, force=True, client_token="del-1")
    ecs.delete_instances(request)
    ecs.delete_instances(request)


def test_a_stopped_machine_shows_stopped_and_is_released_without_force(sim, ecs, net):
    ids = run(ecs, net)
    sim.cloud.faults.kill("AlibabaCloud", ids[:1], how="stop")
    found = describe(ecs, instance_ids=json.dumps(ids)).instances.instance
    assert [(i.instance_id, i.status) for i in found] == [(ids[0], "Stopped"), (ids[1], "Running")]
    assert [i.instance_id for i in describe(ecs, status="Stopped").instances.instance] == ids[:1]
    with pytest.raises(ClientException) as err:  # one of them is Running
        ecs.delete_instances(ecs_models.DeleteInstancesRequest(region_id=REGION, instance_id=ids))
    assert err.value.code == "IncorrectInstanceStatus"
    ecs.delete_instances(ecs_models.DeleteInstancesRequest(region_id=REGION, instance_id=ids[:1]))
    assert [i.instance_id for i in describe(ecs, instance_ids=json.dumps(ids)).instances.instance] == ids[1:]


def test_network_and_security_group_rules(sim, aliyun, ecs, net):
    vpc, vsw, sg = net
    vpc_client = aliyun("vpc")
    with pytest.raises(ClientException) as err:
        vpc_client.create_vswitch(vpc_models.CreateVSwitchRequest(
            region_id=REGION, zone_id=ZONE, vpc_id=vpc, cidr_block="10.1.2.0/24"))
    assert err.value.code == "InvalidCidrBlock.Overlapped"
    ecs.authorize_security_group(ecs_models.AuthorizeSecurityGroupRequest(
        region_id=REGION, security_group_id=sg, permissions=[ecs_models.AuthorizeSecurityGroupRequestPermissions(
            ip_protocol="tcp", port_range="22/22", source_cidr_ip="0.0.0.0/0")]))
    ecs.authorize_security_group_egress(ecs_models.AuthorizeSecurityGroupEgressRequest(
        region_id=REGION, security_group_id=sg, permissions=[ecs_models.AuthorizeSecurityGroupEgressRequestPermissions(
            ip_protocol="all", port_range="-1/-1", dest_cidr_ip="0.0.0.0/0")]))
    attr = ecs.describe_security_group_attribute(ecs_models.DescribeSecurityGroupAttributeRequest(
        region_id=REGION, security_group_id=sg)).body
    assert [(p.direction, p.ip_protocol, p.port_range) for p in attr.permissions.permission] == [
        ("ingress", "TCP", "22/22"), ("egress", "ALL", "-1/-1")]
    groups = ecs.describe_security_groups(ecs_models.DescribeSecurityGroupsRequest(region_id=REGION, vpc_id=vpc)).body
    assert [g.security_group_id for g in groups.security_groups.security_group] == [sg]
    vpcs = vpc_client.describe_vpcs(vpc_models.DescribeVpcsRequest(region_id=REGION)).body.vpcs.vpc
    assert [(v.vpc_id, v.cidr_block, v.v_switch_ids.v_switch_id) for v in vpcs] == [(vpc, "10.0.0.0/8", [vsw])]
    switch = vpc_client.describe_vswitches(vpc_models.DescribeVSwitchesRequest(region_id=REGION, vpc_id=vpc)).body
    assert switch.v_switches.v_switch[0].available_ip_address_count == 65532
    run(ecs, net, amount=1)
    with pytest.raises(ClientException) as err:
        vpc_client.delete_vswitch(vpc_models.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw))
    assert err.value.code == "DependencyViolation"
    ecs.delete_instances(ecs_models.DeleteInstancesRequest(
        region_id=REGION, instance_id=[i.instance_id for i in sim.instances()], force=True))
    vpc_client.delete_vswitch(vpc_models.DeleteVSwitchRequest(region_id=REGION, v_switch_id=vsw))
    ecs.delete_security_group(ecs_models.DeleteSecurityGroupRequest(region_id=REGION, security_group_id=sg))
    vpc_client.delete_vpc(vpc_models.DeleteVpcRequest(region_id=REGION, vpc_id=vpc))
    assert sim.cloud.vpcs("AlibabaCloud") == []


def test_catalogue(sim, ecs):
    regions = ecs.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    assert {"cn-qingdao", "cn-beijing", "cn-hangzhou"} <= {r.region_id for r in regions}
    zones = ecs.describe_zones(ecs_models.DescribeZonesRequest(region_id="cn-beijing")).body.zones.zone
    assert "cn-beijing-h" in [z.zone_id for z in zones]
    types = ecs.describe_instance_types(ecs_models.DescribeInstanceTypesRequest(
        instance_type_family="ecs.g6")).body.instance_types.instance_type
    assert ("ecs.g6.large", 2, 8.0) in [(t.instance_type_id, t.cpu_core_count, t.memory_size) for t in types]
    images = ecs.describe_images(ecs_models.DescribeImagesRequest(region_id=REGION, page_size=2)).body
    assert images.total_count >= 3 and len(images.images.image) == 2
    sim.configure(capacity={("AlibabaCloud", ZONE, TYPE): 0})
    resource = ecs.describe_available_resource(ecs_models.DescribeAvailableResourceRequest(
        region_id=REGION, zone_id=ZONE, destination_resource="InstanceType", instance_type=TYPE)).body
    supported = resource.available_zones.available_zone[0].available_resources.available_resource[0]
    assert supported.supported_resources.supported_resource[0].status_category == "WithoutStock"


def test_capacity_no_stock_and_min_amount(sim, ecs, net):
    sim.configure(capacity={("AlibabaCloud", ZONE, TYPE): 3})
    with pytest.raises(ClientException) as err:
        run(ecs, net, amount=5)
    assert (err.value.code, err.value.status_code) == ("OperationDenied.NoStock", 403)
    assert len(run(ecs, net, amount=5, token="tok-min", min_amount=2)) == 3


def test_throttling_by_rate_with_retry_after(sim, ecs, net):
    sim.configure(rates={"describe": 2.0})
    codes = []
    for _ in range(4):
        try:
            describe(ecs)
            codes.append("ok")
        except ThrottlingException as exc:
            codes.append(exc.code)
            assert 0 < exc.retry_after <= 500 and exc.status_code == 400
    assert codes == ["ok", "ok", "Throttling.User", "Throttling.User"]
    assert [r.outcome for r in sim.requests if r.op == "describe"] == codes
    run(ecs, net)  # create has its own bucket


def test_random_throttle_and_server_errors(sim, ecs):
    sim.configure(throttle_rate=1.0)
    with pytest.raises(ThrottlingException) as err:
        describe(ecs)
    assert err.value.code == "Throttling.User"
    sim.configure(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(ServerException) as err:
        describe(ecs)
    assert (err.value.code, err.value.status_code) == ("InternalError", 500)


def test_wrong_secret_and_unknown_key(sim, aliyun):
    request = ecs_models.DescribeRegionsRequest()
    with pytest.raises(ClientException) as err:
        aliyun("ecs", sk="wrong").describe_regions(request)
    assert err.value.code == "SignatureDoesNotMatch"
    with pytest.raises(ClientException) as err:
        aliyun("ecs", ak="LTAInobody").describe_regions(request)
    assert (err.value.code, err.value.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    assert [r.outcome for r in sim.requests] == ["SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound"]

"""TencentCloud CVM + VPC face, driven by the real tencentcloud SDK clients."""
import json

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.cvm.v20170312 import models as cvm_models
from tencentcloud.vpc.v20170312 import models as vpc_models

from _poll import wait_until

ZONE, TYPE, IMAGE = "ap-guangzhou-3", "S5.MEDIUM4", "img-9qabwvbn"


def req(cls, **params):
    request = cls()
    request.from_json_string(json.dumps(params))
    return request


@pytest.fixture
def cvm(tencent):
    return tencent("cvm")


@pytest.fixture
def net(tencent):
    vpc_client = tencent("vpc")
    vpc = vpc_client.CreateVpc(req(vpc_models.CreateVpcRequest, VpcName="v", CidrBlock="10.0.0.0/16")).Vpc.VpcId
    subnet = vpc_client.CreateSubnet(req(vpc_models.CreateSubnetRequest, VpcId=vpc, SubnetName="s",
                                         CidrBlock="10.0.0.0/18", Zone=ZONE)).Subnet.SubnetId
    group = vpc_client.CreateSecurityGroup(req(vpc_models.CreateSecurityGroupRequest, GroupName="g",
                                               GroupDescription="d")).SecurityGroup.SecurityGroupId
    return vpc, subnet, group


def run(cvm, net, count=2, token="tok-1", tags=None, **extra):
    vpc, subnet, group = net
    params = dict(Placement={"Zone": ZONE}, InstanceType=TYPE, ImageId=IMAGE, InstanceCount=count, ClientToken=token,
                  VirtualPrivateCloud={"VpcId": vpc, "SubnetId": subnet}, SecurityGroupIds=[group],
                  LoginSettings={"Password": "Passw0rd!"}, SystemDisk={"DiskType": "CLOUD_PREMIUM", "DiskSize": 50},
                  InstanceChargeType="POSTPAID_BY_HOUR",
                  TagSpecification=[{"ResourceType": "instance", "Tags": [
                      {"Key": k, "Value": v} for k, v in (tags or {"task": "t1"}).items()]}], **extra)
    return cvm.RunInstances(req(cvm_models.RunInstancesRequest, **params)).InstanceIdSet


def describe(cvm, **params):
    return cvm.DescribeInstances(req(cvm_models.DescribeInstancesRequest, **params))


def test_client_token_returns_same_ids(sim, cvm, net):
    first = run(cvm, net, count=3)
    assert len(first) == 3 and all(i.startswith("ins-") for i in first)
    assert run(cvm, net, count=3) == first
    assert len(sim.instances("TencentCloud")) == 3


def test_pending_then_running_with_ips(sim, cvm, net):
    sim.configure(boot_seconds=1.0)  # long enough that the first describe still sees them pending
    ids = run(cvm, net, InternetAccessible={"InternetMaxBandwidthOut": 10, "PublicIpAssigned": True})
    assert [i.InstanceState for i in describe(cvm, InstanceIds=ids).InstanceSet] == ["PENDING", "PENDING"]

    def running():
        found = describe(cvm, InstanceIds=ids).InstanceSet
        return found if [i.InstanceState for i in found] == ["RUNNING", "RUNNING"] else None
    found = wait_until(running, "both machines RUNNING")
    for inst in found:
        assert inst.PrivateIpAddresses[0].startswith("10.0.") and inst.PublicIpAddresses
        assert (inst.Placement.Zone, inst.InstanceType, inst.CPU, inst.Memory) == (ZONE, TYPE, 2, 4)
        assert {t.Key: t.Value for t in inst.Tags} == {"task": "t1"}


def test_describe_by_tag_filter_with_offset_paging(sim, cvm, net):
    ids = run(cvm, net, count=25, tags={"task": "big"})
    run(cvm, net, count=2, token="other", tags={"task": "small"})
    seen = []
    for offset in range(0, 30, 10):
        body = describe(cvm, Filters=[{"Name": "tag:task", "Values": ["big"]}], Offset=offset, Limit=10)
        assert body.TotalCount == 25
        seen += [i.InstanceId for i in body.InstanceSet]
    assert seen == ids
    assert describe(cvm, Filters=[{"Name": "tag-key", "Values": ["task"]}]).TotalCount == 27
    with pytest.raises(TencentCloudSDKException) as err:
        describe(cvm, InstanceIds=ids[:1], Filters=[{"Name": "zone", "Values": [ZONE]}])
    assert err.value.code == "InvalidParameter"
    with pytest.raises(TencentCloudSDKException) as err:
        describe(cvm, Limit=101)
    assert err.value.code == "InvalidParameterValue.LimitExceeded"


def test_terminate_then_gone(sim, cvm, net):
    ids = run(cvm, net)
    cvm.TerminateInstances(req(cvm_models.TerminateInstancesRequest, InstanceIds=ids))
    assert describe(cvm, InstanceIds=ids).TotalCount == 0
    with pytest.raises(TencentCloudSDKException) as err:
        cvm.TerminateInstances(req(cvm_models.TerminateInstancesRequest, InstanceIds=ids))
    assert err.value.code == "InvalidInstanceId.NotFound"
    with pytest.raises(TencentCloudSDKException) as err:
        cvm.TerminateInstances(req(cvm_models.TerminateInstancesRequest, InstanceIds=["i-notatencentid"]))
    assert err.value.code == "InvalidInstanceId.Malformed"


def test_a_stopped_machine_is_stopped(sim, cvm, net):
    ids = run(cvm, net)
    sim.cloud.faults.kill("TencentCloud", ids[:1], how="stop")
    found = describe(cvm, InstanceIds=ids).InstanceSet
    assert [(i.InstanceId, i.InstanceState) for i in found] == [(ids[0], "STOPPED"), (ids[1], "RUNNING")]
    stopped = describe(cvm, Filters=[{"Name": "instance-state", "Values": ["STOPPED"]}]).InstanceSet
    assert [i.InstanceId for i in stopped] == ids[:1]


def test_network_and_security_group_policies(sim, tencent, net):
    vpc, subnet, group = net
    vpc_client = tencent("vpc")
    with pytest.raises(TencentCloudSDKException) as err:
        vpc_client.CreateSubnet(req(vpc_models.CreateSubnetRequest, VpcId=vpc, SubnetName="x", CidrBlock="10.0.1.0/24",
                                    Zone=ZONE))
    assert err.value.code == "InvalidParameterValue.SubnetConflict"
    with pytest.raises(TencentCloudSDKException) as err:
        vpc_client.CreateSubnet(req(vpc_models.CreateSubnetRequest, VpcId=vpc, SubnetName="x", CidrBlock="10.9.0.0/24",
                                    Zone=ZONE))
    assert err.value.code == "InvalidParameterValue.SubnetRange"
    vpc_client.CreateSecurityGroupPolicies(req(vpc_models.CreateSecurityGroupPoliciesRequest, SecurityGroupId=group,
                                               SecurityGroupPolicySet={
                                                   "Ingress": [{"Protocol": "TCP", "Port": "22",
                                                                "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}],
                                                   "Egress": [{"Protocol": "ALL", "Port": "ALL",
                                                               "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]}))
    policies = vpc_client.DescribeSecurityGroupPolicies(req(vpc_models.DescribeSecurityGroupPoliciesRequest,
                                                            SecurityGroupId=group)).SecurityGroupPolicySet
    assert [(p.Protocol, p.Port, p.Action) for p in policies.Ingress] == [("TCP", "22", "ACCEPT")]
    assert [(p.Protocol, p.Port) for p in policies.Egress] == [("ALL", "ALL")]
    groups = vpc_client.DescribeSecurityGroups(req(vpc_models.DescribeSecurityGroupsRequest)).SecurityGroupSet
    assert [g.SecurityGroupId for g in groups] == [group]
    vpcs = vpc_client.DescribeVpcs(req(vpc_models.DescribeVpcsRequest, Limit="20")).VpcSet
    assert [(v.VpcId, v.CidrBlock) for v in vpcs] == [(vpc, "10.0.0.0/16")]
    subnets = vpc_client.DescribeSubnets(req(vpc_models.DescribeSubnetsRequest,
                                             Filters=[{"Name": "vpc-id", "Values": [vpc]}])).SubnetSet
    assert [(s.SubnetId, s.AvailableIpAddressCount) for s in subnets] == [(subnet, 16384 - 3)]
    with pytest.raises(TencentCloudSDKException) as err:
        vpc_client.DeleteVpc(req(vpc_models.DeleteVpcRequest, VpcId=vpc))
    assert err.value.code == "ResourceInUse"
    vpc_client.DeleteSubnet(req(vpc_models.DeleteSubnetRequest, SubnetId=subnet))
    vpc_client.DeleteSecurityGroup(req(vpc_models.DeleteSecurityGroupRequest, SecurityGroupId=group))
    vpc_client.DeleteVpc(req(vpc_models.DeleteVpcRequest, VpcId=vpc))
    with pytest.raises(TencentCloudSDKException) as err:
        vpc_client.DeleteVpc(req(vpc_models.DeleteVpcRequest, VpcId=vpc))
    assert err.value.code == "ResourceNotFound"


def test_catalogue(sim, cvm):
    regions = cvm.DescribeRegions(cvm_models.DescribeRegionsRequest()).RegionSet
    assert {"ap-guangzhou", "ap-beijing"} <= {r.Region for r in regions}
    zones = cvm.DescribeZones(cvm_models.DescribeZonesRequest()).ZoneSet
    assert ("ap-guangzhou-3", "100003") in [(z.Zone, z.ZoneId) for z in zones]
    configs = cvm.DescribeInstanceTypeConfigs(req(cvm_models.DescribeInstanceTypeConfigsRequest,
                                                  Filters=[{"Name": "zone", "Values": [ZONE]}])).InstanceTypeConfigSet
    assert ("S5.LARGE8", 4, 8) in [(c.InstanceType, c.CPU, c.Memory) for c in configs]
    images = cvm.DescribeImages(req(cvm_models.DescribeImagesRequest, Limit=2))
    assert images.TotalCount >= 3 and len(images.ImageSet) == 2 and IMAGE in [
        i.ImageId for i in cvm.DescribeImages(cvm_models.DescribeImagesRequest()).ImageSet]


def test_capacity_errors(sim, cvm, net):
    sim.configure(capacity={("TencentCloud", ZONE, TYPE): 3})
    with pytest.raises(TencentCloudSDKException) as err:
        run(cvm, net, count=5)  # no partial creates on Tencent
    assert err.value.code == "ResourceInsufficient.SpecifiedInstanceType"
    run(cvm, net, count=3, token="fill")
    with pytest.raises(TencentCloudSDKException) as err:
        run(cvm, net, count=1, token="more")
    assert err.value.code == "ResourcesSoldOut.SpecifiedInstanceType"


def test_rate_limit_and_fault_knobs(sim, cvm, net):
    sim.configure(rates={"create": 1.0})
    run(cvm, net, token="a")
    with pytest.raises(TencentCloudSDKException) as err:
        run(cvm, net, token="b")
    assert err.value.code == "RequestLimitExceeded"
    sim.configure(rates={}, throttle_rate=1.0)
    with pytest.raises(TencentCloudSDKException) as err:
        describe(cvm)
    assert err.value.code == "RequestLimitExceeded"
    sim.configure(throttle_rate=0.0, error_rate=1.0)
    with pytest.raises(TencentCloudSDKException) as err:
        describe(cvm)
    assert err.value.code == "InternalError"


def test_wrong_secret_and_unknown_key(sim, tencent):
    with pytest.raises(TencentCloudSDKException) as err:
        tencent("cvm", sk="wrong").DescribeRegions(cvm_models.DescribeRegionsRequest())
    assert err.value.code == "AuthFailure.SignatureFailure"
    with pytest.raises(TencentCloudSDKException) as err:
        tencent("vpc", ak="AKIDnobody").DescribeVpcs(vpc_models.DescribeVpcsRequest())
    assert err.value.code == "AuthFailure.SecretIdNotFound"


def test_answers_are_plain_application_json(sim, server):
    import urllib.request
    request = urllib.request.Request(server.url, data=b"{}", headers={"X-TC-Action": "DescribeRegions",
                                                                      "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/json"
        assert json.load(response)["Response"]["Error"]["Code"] == "AuthFailure.InvalidAuthorization"


def test_vpc_api_times_are_beijing_time_without_an_offset(sim, tencent, net):
    from datetime import datetime, timedelta, timezone
    vpc_client = tencent("vpc")
    vpc, subnet, group = net
    beijing = timezone(timedelta(hours=8))
    now = datetime.now(beijing).replace(tzinfo=None)
    stamps = [vpc_client.DescribeVpcs(req(vpc_models.DescribeVpcsRequest)).VpcSet[0].CreatedTime,
              vpc_client.DescribeSubnets(req(vpc_models.DescribeSubnetsRequest)).SubnetSet[0].CreatedTime,
              vpc_client.DescribeSecurityGroups(req(vpc_models.DescribeSecurityGroupsRequest))
              .SecurityGroupSet[0].CreatedTime]
    for stamp in stamps:
        assert abs((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") - now).total_seconds()) < 60, stamp

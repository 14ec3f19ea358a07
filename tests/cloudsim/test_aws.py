"""AWSCloud EC2 face, driven by boto3 (SDK retries off, as drivers should configure it)."""

import pytest
from botocore.exceptions import ClientError

from _poll import wait_until

ZONE, TYPE, IMAGE = "us-east-1a", "t3.micro", "ami-0c02fb55956c7d316"


def code(err) -> str:
    return err.value.response["Error"]["Code"]


@pytest.fixture
def client(ec2):
    return ec2()


@pytest.fixture
def net(client):
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/18", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
    group = client.create_security_group(GroupName="g", Description="d", VpcId=vpc)["GroupId"]
    return vpc, subnet, group


def run(client, net, count=2, token="tok-1", tags=None, min_count=None, **extra):
    _, subnet, group = net
    return client.run_instances(
        ImageId=IMAGE, InstanceType=TYPE, MinCount=min_count or count, MaxCount=count, ClientToken=token,
        SubnetId=subnet, SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": k, "Value": v} for k, v in (tags or {"task": "t1"}).items()]}], **extra)


def instances(body) -> list:
    return [i for r in body["Reservations"] for i in r["Instances"]]


def test_client_token_returns_same_reservation(sim, client, net):
    first = run(client, net, count=3)
    ids = [i["InstanceId"] for i in first["Instances"]]
    assert len(ids) == 3 and all(i["State"]["Name"] == "pending" for i in first["Instances"])
    again = run(client, net, count=3)
    assert again["ReservationId"] == first["ReservationId"] and [i["InstanceId"] for i in again["Instances"]] == ids
    assert len(sim.instances("AWSCloud")) == 3
    with pytest.raises(ClientError) as err:
        run(client, net, count=4)
    assert code(err) == "IdempotentParameterMismatch"


def test_launches_max_count_not_min_count(sim, client, net):
    assert len(run(client, net, count=5, min_count=1)["Instances"]) == 5


def test_pending_then_running_with_ips(sim, client, net):
    sim.configure(boot_seconds=1.0)  # long enough that the first describe still sees them pending
    _, subnet, group = net
    reservation = client.run_instances(
        ImageId=IMAGE, InstanceType=TYPE, MinCount=2, MaxCount=2, ClientToken="nic",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group], "AssociatePublicIpAddress": True}])
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    assert [i["State"]["Name"] for i in instances(client.describe_instances(InstanceIds=ids))] == ["pending"] * 2

    def running():
        found = instances(client.describe_instances(InstanceIds=ids))
        return found if [i["State"] for i in found] == [{"Code": 16, "Name": "running"}] * 2 else None
    found = wait_until(running, "both machines running")
    for inst in found:
        assert inst["PrivateIpAddress"].startswith("10.0.") and inst["PublicIpAddress"]
        assert (inst["SubnetId"], inst["Placement"]["AvailabilityZone"]) == (subnet, ZONE)
        assert inst["SecurityGroups"] == [{"GroupId": group, "GroupName": "g"}]


def test_describe_by_tag_pages_by_instance(sim, client, net):
    ids = [i["InstanceId"] for i in run(client, net, count=12, tags={"task": "big"})["Instances"]]
    run(client, net, count=2, token="other", tags={"task": "small"})
    paginator = client.get_paginator("describe_instances")
    pages = list(paginator.paginate(Filters=[{"Name": "tag:task", "Values": ["big"]}],
                                    PaginationConfig={"PageSize": 5}))
    assert [len(instances(p)) for p in pages] == [5, 5, 2]
    assert [i["InstanceId"] for p in pages for i in instances(p)] == ids
    wild = client.describe_instances(Filters=[{"Name": "tag:task", "Values": ["sm*"]}])
    assert len(instances(wild)) == 2
    with pytest.raises(ClientError) as err:
        client.describe_instances(InstanceIds=ids[:1], MaxResults=5)
    assert code(err) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as err:
        client.describe_instances(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code(err) == "InvalidParameterValue"


def test_terminate_keeps_terminated_visible_and_unknown_ids_fail(sim, client, net):
    ids = [i["InstanceId"] for i in run(client, net)["Instances"]]
    first = client.terminate_instances(InstanceIds=ids)["TerminatingInstances"]
    assert [i["CurrentState"]["Name"] for i in first] == ["shutting-down"] * 2
    again = client.terminate_instances(InstanceIds=ids)["TerminatingInstances"]  # not an error on AWS
    assert [i["CurrentState"]["Name"] for i in again] == ["terminated"] * 2
    states = [i["State"]["Name"] for i in instances(client.describe_instances(InstanceIds=ids))]
    assert states == ["terminated"] * 2  # still listed for a while, so filter them out
    running = client.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert instances(running) == []
    with pytest.raises(ClientError) as err:
        client.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert code(err) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as err:
        client.terminate_instances(InstanceIds=["bogus"])
    assert code(err) == "InvalidInstanceID.Malformed"


def test_a_stopped_machine_is_state_80_stopped(sim, client, net):
    ids = [i["InstanceId"] for i in run(client, net)["Instances"]]
    sim.cloud.faults.kill("AWSCloud", ids[:1], how="stop")
    states = [(i["InstanceId"], i["State"]) for i in instances(client.describe_instances(InstanceIds=ids))]
    assert states == [(ids[0], {"Code": 80, "Name": "stopped"}), (ids[1], {"Code": 16, "Name": "running"})]
    stopped = client.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}])
    assert [i["InstanceId"] for i in instances(stopped)] == ids[:1]
    [gone] = client.terminate_instances(InstanceIds=ids[:1])["TerminatingInstances"]
    assert gone["PreviousState"] == {"Code": 80, "Name": "stopped"}


def test_network_security_groups_and_dependencies(sim, client, net):
    vpc, subnet, group = net
    with pytest.raises(ClientError) as err:
        client.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=ZONE)
    assert code(err) == "InvalidSubnet.Conflict"
    with pytest.raises(ClientError) as err:
        client.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24", AvailabilityZone=ZONE)
    assert code(err) == "InvalidSubnet.Range"
    with pytest.raises(ClientError) as err:
        client.create_security_group(GroupName="g", Description="d", VpcId=vpc)
    assert code(err) == "InvalidGroup.Duplicate"
    client.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    with pytest.raises(ClientError) as err:
        client.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert code(err) == "InvalidPermission.Duplicate"
    groups = client.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    assert sorted(g["GroupName"] for g in groups) == ["default", "g"]  # every VPC has its "default" group
    mine = next(g for g in groups if g["GroupId"] == group)
    assert [(p["IpProtocol"], p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in mine["IpPermissions"]] == [
        ("tcp", 22, "0.0.0.0/0")]
    assert mine["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    subnets = client.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert [(s["SubnetId"], s["AvailableIpAddressCount"]) for s in subnets] == [(subnet, 16384 - 5)]
    with pytest.raises(ClientError) as err:
        client.delete_vpc(VpcId=vpc)
    assert code(err) == "DependencyViolation"
    client.delete_subnet(SubnetId=subnet)
    client.delete_security_group(GroupId=group)
    client.delete_vpc(VpcId=vpc)
    with pytest.raises(ClientError) as err:
        client.describe_vpcs(VpcIds=[vpc])
    assert code(err) == "InvalidVpcID.NotFound"


def test_catalogue(sim, client):
    assert "us-east-1" in [r["RegionName"] for r in client.describe_regions()["Regions"]]
    assert ZONE in [z["ZoneName"] for z in client.describe_availability_zones()["AvailabilityZones"]]
    types = client.describe_instance_types(InstanceTypes=[TYPE])["InstanceTypes"]
    assert (types[0]["VCpuInfo"]["DefaultVCpus"], types[0]["MemoryInfo"]["SizeInMiB"]) == (2, 1024)
    offerings = client.describe_instance_type_offerings(LocationType="availability-zone",
                                                        Filters=[{"Name": "location", "Values": [ZONE]}])
    assert TYPE in [o["InstanceType"] for o in offerings["InstanceTypeOfferings"]]
    assert IMAGE in [i["ImageId"] for i in client.describe_images(Owners=["amazon"])["Images"]]


def test_capacity_and_min_count(sim, client, net):
    sim.configure(capacity={("AWSCloud", ZONE, TYPE): 3})
    with pytest.raises(ClientError) as err:
        run(client, net, count=5)
    assert (code(err), err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("InsufficientInstanceCapacity",
                                                                                     500)
    assert len(run(client, net, count=5, min_count=2, token="partial")["Instances"]) == 3


def test_throttling_and_faults(sim, client, net):
    sim.configure(rates={"describe": 1.0})
    client.describe_instances()
    with pytest.raises(ClientError) as err:
        client.describe_instances()
    assert (code(err), err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("RequestLimitExceeded", 503)
    sim.configure(rates={}, error_rate=1.0)
    with pytest.raises(ClientError) as err:
        client.describe_regions()
    assert code(err) == "InternalError"


def test_lost_reply_then_token_replay(sim, client, net):
    sim.configure(lost_reply_rate=1.0)
    with pytest.raises(ClientError) as err:
        run(client, net, count=2, token="lost")
    assert code(err) == "InternalError"
    assert len(sim.instances("AWSCloud")) == 2  # created, though the caller never heard
    sim.configure(lost_reply_rate=0.0)
    replay = run(client, net, count=2, token="lost")
    assert sorted(i["InstanceId"] for i in replay["Instances"]) == sorted(i.instance_id for i in sim.instances())


def test_wrong_secret_and_unknown_key(sim, ec2):
    with pytest.raises(ClientError) as err:
        ec2(sk="wrong").describe_regions()
    assert (code(err), err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("AuthFailure", 401)
    with pytest.raises(ClientError) as err:
        ec2(ak="AKIAUNKNOWN").describe_regions()
    assert code(err) == "AuthFailure"
    assert [(r.provider, r.outcome, r.region) for r in sim.requests] == [("AWSCloud", "AuthFailure", "us-east-1")] * 2


def test_tags_default_group_and_no_default_vpc(sim, client, net):
    vpc, subnet, _ = net
    client.create_tags(Resources=[vpc], Tags=[{"Key": "owner", "Value": "bridgx"}])
    assert [v["VpcId"] for v in client.describe_vpcs(Filters=[{"Name": "tag:owner", "Values": ["bridgx"]}])["Vpcs"]] \
        == [vpc]
    made = client.run_instances(ImageId=IMAGE, InstanceType=TYPE, MinCount=1, MaxCount=1, SubnetId=subnet)
    assert made["Instances"][0]["SecurityGroups"][0]["GroupName"] == "default"
    with pytest.raises(ClientError) as err:
        client.run_instances(ImageId=IMAGE, InstanceType=TYPE, MinCount=1, MaxCount=1)
    assert code(err) == "VPCIdNotSpecified"


def test_objects_added_directly_are_named_by_their_name_tag(sim, client):
    vpc = sim.add_vpc("AWSCloud", "us-east-1", "web-vpc", "10.5.0.0/16")
    subnet = sim.add_subnet("AWSCloud", "us-east-1", vpc, ZONE, "web-subnet", "10.5.1.0/24")
    group = sim.add_security_group("AWSCloud", "us-east-1", vpc, "web-sg")

    def name(item):
        return {t["Key"]: t["Value"] for t in item.get("Tags") or []}.get("Name")
    assert name(client.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]) == "web-vpc"
    assert name(client.describe_subnets(SubnetIds=[subnet])["Subnets"][0]) == "web-subnet"
    assert name(client.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]) == "web-sg"
    # and objects made through the API keep the name their Name tag gives them
    made = client.create_vpc(CidrBlock="10.6.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "api-vpc"}]}])["Vpc"]["VpcId"]
    assert [v.name for v in sim.cloud.vpcs("AWSCloud", ids={made})] == ["api-vpc"]

"""AWSCloud driver: EC2 (instances, VPCs, subnets, security groups, catalogue) through boto3.

botocore's own retries are switched off (one attempt per call): our retry policy, which knows
about rate budgets and client tokens, is the only one. Responses are parsed outside `call`.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Optional

from app.providers._util import delete_tolerating_gone, parse_time, price_text
from app.providers.base import (
    DELETED, PENDING, RUNNING, STOPPED, AuthFailed, CloudError, CloudUnavailable, CreateResult,
    Image, Instance, InstanceSpec, InstanceType, InvalidRequest, Limits, NotFound, OutOfCapacity,
    Provider, QuotaExceeded, Region, Rule, SecurityGroup, Subnet, Throttled, Vpc, Zone, chunks,
)

_STATUS = {"pending": PENDING, "running": RUNNING, "stopping": STOPPED, "stopped": STOPPED,
           "shutting-down": DELETED, "terminated": DELETED}
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]
_THROTTLE_CODES = {"RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled"}
_AUTH_CODES = {"AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
               "IncompleteSignature", "MissingAuthenticationToken", "InvalidAccessKeyId"}
# A spot request the market refuses (no spot stock, the ceiling under the spot price, the account's
# spot limit): on demand may still have room, so these are capacity errors, not quota or bad input.
_SPOT_REFUSED = {"SpotMaxPriceTooLow", "MaxSpotInstanceCountExceeded", "UnfulfillableCapacity"}
_UNAVAILABLE_CODES = {"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"}
# Our protocol names <-> EC2's IpProtocol.
_PROTOCOLS = {"all": "-1", "gre": "47"}
_PROTOCOL_NAMES = {"-1": "all", "47": "gre"}


@lru_cache(maxsize=64)
def _client(access_key: str, secret_key: str, endpoint: Optional[str], region_id: str):
    """One EC2 client per account, region and endpoint (boto3 clients are thread-safe)."""
    import boto3
    from botocore.config import Config

    # A session per client: boto3's default session is not safe to share while creating clients.
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    region_name=region_id)
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
    return session.client("ec2", endpoint_url=endpoint or None, config=config)


class AWSProvider(Provider):
    name = "AWSCloud"
    default_region = "us-east-1"
    limits = Limits(
        max_create=100, max_describe_ids=1000, max_delete_ids=1000, page_size=1000,
        # EC2 request buckets: RunInstances refills 2/s; other mutating calls 5/s;
        # Describe* 20/s.
        rates={"RunInstances": 2.0, "Describe*": 20.0, "*": 5.0},
        supports_partial_create=True,
    )

    # ------------------------------------------------------------ plumbing
    @property
    def _ec2(self):
        c = self.credentials
        return _client(c.access_key, c.secret_key, c.endpoint, self.region_id)

    def _run(self, api: str, **params) -> dict:
        """Call one EC2 API ("RunInstances") with its parameters; the response dict. The client is
        made inside the call, so what botocore refuses there (a region like "0") is translated too."""
        return self.call(api, lambda: getattr(self._ec2, _snake(api))(**params))

    def _pages(self, api: str, key: str, **params) -> list:
        """Every item under `key` across NextToken pages."""
        items, token = [], None
        while True:
            extra = {"NextToken": token} if token else {}
            response = self._run(api, **params, **extra)
            items += response.get(key) or []
            token = response.get("NextToken")
            if not token:
                return items

    def translate(self, exc: Exception) -> CloudError:
        from botocore import exceptions as bex

        if isinstance(exc, bex.ClientError):
            error = exc.response.get("Error") or {}
            meta = exc.response.get("ResponseMetadata") or {}
            code = str(error.get("Code") or "")
            message = str(error.get("Message") or exc)
            request_id = str(meta.get("RequestId") or "")
            status = meta.get("HTTPStatusCode") or 0
            if code in _THROTTLE_CODES:
                return Throttled(message, code, request_id)
            if (code.startswith("Insufficient") and code.endswith("Capacity")) or code in _SPOT_REFUSED:
                return OutOfCapacity(message, code, request_id)
            if code.endswith("LimitExceeded"):  # InstanceLimitExceeded, VcpuLimitExceeded, VpcLimitExceeded...
                return QuotaExceeded(message, code, request_id)
            if code in _AUTH_CODES:
                return AuthFailed(message, code, request_id)
            if code.endswith(".NotFound"):
                return NotFound(message, code, request_id)
            if status >= 500 or code in _UNAVAILABLE_CODES:
                return CloudUnavailable(message, code, request_id)
            return InvalidRequest(message, code, request_id)
        name = type(exc).__name__
        if isinstance(exc, (bex.ConnectionError, bex.HTTPClientError, ConnectionError, TimeoutError)):
            return CloudUnavailable(str(exc), name)
        if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
            return AuthFailed(str(exc), name)
        if isinstance(exc, (bex.ParamValidationError, bex.ValidationError)):
            return InvalidRequest(str(exc), name)
        return CloudError(str(exc), name)

    # ------------------------------------------------------------ instances
    def create_instances(self, spec: InstanceSpec, count: int, client_token: str, tags: dict,
                         min_count: Optional[int] = None) -> CreateResult:
        self.keep_secret(spec.password)
        params = {
            "ImageId": spec.image_id, "InstanceType": spec.instance_type,
            # MinCount is the all-or-nothing floor: without it a batch is all or nothing.
            "MinCount": min_count or count, "MaxCount": count,
            "ClientToken": client_token,
            "Placement": {"AvailabilityZone": spec.zone_id},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": _tag_list(
                {**tags, "Name": spec.name_prefix} if spec.name_prefix and "Name" not in tags else tags)}],
        }
        if spec.internet_max_bandwidth_out > 0:
            # A public address can only be asked for on an explicit network interface.
            params["NetworkInterfaces"] = [{"DeviceIndex": 0, "SubnetId": spec.subnet_id,
                                            "Groups": [spec.security_group_id], "AssociatePublicIpAddress": True}]
        else:
            params["SubnetId"] = spec.subnet_id
            params["SecurityGroupIds"] = [spec.security_group_id]
        disks = []
        if spec.system_disk:
            disks.append({"DeviceName": "/dev/xvda", "Ebs": {
                "VolumeSize": spec.system_disk.size, "VolumeType": spec.system_disk.category,
                "DeleteOnTermination": True}})
        for i, d in enumerate(spec.data_disks):
            disks.append({"DeviceName": f"/dev/sd{chr(ord('b') + i)}", "Ebs": {
                "VolumeSize": d.size, "VolumeType": d.category, "DeleteOnTermination": True}})
        if disks:
            params["BlockDeviceMappings"] = disks
        if spec.spot:
            # One-time, terminated on interruption: a reclaimed machine is gone and self-healing
            # replaces it. Without MaxPrice EC2 caps the bid at the on-demand price.
            options = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
            if spec.spot_price_limit:
                options["MaxPrice"] = price_text(spec.spot_price_limit)
            params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
        # EC2 has neither login passwords nor prepaid charging on RunInstances: those spec
        # fields do not apply here.
        response = self._run("RunInstances", **params)
        return CreateResult(instance_ids=[i["InstanceId"] for i in response.get("Instances") or []],
                            request_id=(response.get("ResponseMetadata") or {}).get("RequestId", ""))

    def describe_instances(self, instance_ids: list[str]) -> list[Instance]:
        found = []
        for batch in chunks(list(instance_ids), self.limits.max_describe_ids):
            # A filter, unlike InstanceIds, does not fail the whole call for one unknown id.
            reservations = self._pages("DescribeInstances", "Reservations",
                                       Filters=[{"Name": "instance-id", "Values": batch}],
                                       MaxResults=self.limits.page_size)
            found += [_instance(raw) for r in reservations for raw in r.get("Instances") or []]
        return found

    def describe_instances_by_tags(self, tags: dict) -> list[Instance]:
        filters = [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in tags.items()]
        # Terminated machines stay visible for about an hour; they are not "live".
        filters.append({"Name": "instance-state-name", "Values": _LIVE_STATES})
        reservations = self._pages("DescribeInstances", "Reservations", Filters=filters,
                                   MaxResults=self.limits.page_size)
        found = {raw["InstanceId"]: _instance(raw) for r in reservations for raw in r.get("Instances") or []}
        return [i for i in found.values() if i.status != DELETED]

    def delete_instances(self, instance_ids: list[str]) -> None:
        def delete(ids):
            self._run("TerminateInstances", InstanceIds=ids)

        for batch in chunks(list(instance_ids), self.limits.max_delete_ids):
            delete_tolerating_gone(self, batch, delete)

    # ------------------------------------------------------------ network
    # EC2's CreateVpc/CreateSubnet/CreateSecurityGroup take no client token.
    def create_vpc(self, name: str, cidr_block: str, client_token: Optional[str] = None) -> str:
        response = self._run("CreateVpc", CidrBlock=cidr_block, TagSpecifications=[
            {"ResourceType": "vpc", "Tags": _tag_list({"Name": name})}])
        return response["Vpc"]["VpcId"]

    def describe_vpcs(self) -> list[Vpc]:
        return [Vpc(vpc_id=raw["VpcId"], name=_tags(raw).get("Name", ""), cidr_block=raw.get("CidrBlock") or "",
                    status=_state(raw), region_id=self.region_id)
                for raw in self._pages("DescribeVpcs", "Vpcs", MaxResults=self.limits.page_size)]

    def delete_vpc(self, vpc_id: str) -> None:
        self._run("DeleteVpc", VpcId=vpc_id)

    def create_subnet(self, vpc_id: str, zone_id: str, name: str, cidr_block: str,
                      client_token: Optional[str] = None) -> str:
        response = self._run("CreateSubnet", VpcId=vpc_id, CidrBlock=cidr_block, AvailabilityZone=zone_id,
                             TagSpecifications=[{"ResourceType": "subnet", "Tags": _tag_list({"Name": name})}])
        return response["Subnet"]["SubnetId"]

    def describe_subnets(self, vpc_id: Optional[str] = None) -> list[Subnet]:
        params = {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]} if vpc_id else {}
        return [Subnet(subnet_id=raw["SubnetId"], vpc_id=raw.get("VpcId") or "",
                       zone_id=raw.get("AvailabilityZone") or "", name=_tags(raw).get("Name", ""),
                       cidr_block=raw.get("CidrBlock") or "", gateway_ip=_router_ip(raw.get("CidrBlock")),
                       status=_state(raw), available_ip_count=raw.get("AvailableIpAddressCount"),
                       is_default=bool(raw.get("DefaultForAz")))
                for raw in self._pages("DescribeSubnets", "Subnets", MaxResults=self.limits.page_size, **params)]

    def delete_subnet(self, subnet_id: str, vpc_id: Optional[str] = None) -> None:
        self._run("DeleteSubnet", SubnetId=subnet_id)

    def create_security_group(self, vpc_id: str, name: str, group_type: str = "normal",
                              rules: Optional[list[Rule]] = None,
                              client_token: Optional[str] = None) -> str:
        response = self._run("CreateSecurityGroup", GroupName=name, Description=name, VpcId=vpc_id)
        group_id = response["GroupId"]
        # A new group already allows all egress; adding that rule again is a Duplicate error.
        self.add_security_group_rules(group_id, [r for r in rules or [] if not (
            r.direction == "egress" and r.protocol == "all" and r.cidr_ip == "0.0.0.0/0")])
        return group_id

    def add_security_group_rules(self, group_id: str, rules: list[Rule]) -> None:
        ingress = [_permission(r) for r in rules or [] if r.direction != "egress"]
        egress = [_permission(r) for r in rules or [] if r.direction == "egress"]
        if ingress:
            self._run("AuthorizeSecurityGroupIngress", GroupId=group_id, IpPermissions=ingress)
        if egress:
            self._run("AuthorizeSecurityGroupEgress", GroupId=group_id, IpPermissions=egress)

    def describe_security_groups(self, vpc_id: Optional[str] = None) -> list[SecurityGroup]:
        params = {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]} if vpc_id else {}
        groups = []
        for raw in self._pages("DescribeSecurityGroups", "SecurityGroups", MaxResults=self.limits.page_size, **params):
            rules = ([r for p in raw.get("IpPermissions") or [] for r in _rules(p, "ingress")]
                     + [r for p in raw.get("IpPermissionsEgress") or [] for r in _rules(p, "egress")])
            groups.append(SecurityGroup(group_id=raw["GroupId"], vpc_id=raw.get("VpcId") or "",
                                        name=raw.get("GroupName") or "", rules=rules))
        return groups

    def delete_security_group(self, group_id: str) -> None:
        self._run("DeleteSecurityGroup", GroupId=group_id)

    # ------------------------------------------------------------ catalogue
    def list_regions(self) -> list[Region]:
        response = self._run("DescribeRegions")
        return [Region(region_id=r["RegionName"], local_name=r["RegionName"]) for r in response.get("Regions") or []]

    def list_zones(self) -> list[Zone]:
        response = self._run("DescribeAvailabilityZones",
                             Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])
        # Placement takes the zone name (us-east-1a), so that is our zone id.
        return [Zone(zone_id=z["ZoneName"], local_name=z["ZoneName"])
                for z in response.get("AvailabilityZones") or [] if z.get("State", "available") == "available"]

    def list_instance_types(self, zone_id: Optional[str] = None) -> list[InstanceType]:
        offered = None
        if zone_id:
            offerings = self._pages("DescribeInstanceTypeOfferings", "InstanceTypeOfferings",
                                    LocationType="availability-zone",
                                    Filters=[{"Name": "location", "Values": [zone_id]}])
            offered = {o["InstanceType"] for o in offerings}
        # DescribeInstanceTypes pages hold at most 100.
        types = []
        for t in self._pages("DescribeInstanceTypes", "InstanceTypes", MaxResults=100):
            if offered is None or t["InstanceType"] in offered:
                types.append(InstanceType(
                    family=t["InstanceType"].split(".")[0], instance_type=t["InstanceType"],
                    cores=int((t.get("VCpuInfo") or {}).get("DefaultVCpus") or 0),
                    memory_gb=round(float((t.get("MemoryInfo") or {}).get("SizeInMiB") or 0) / 1024, 2)))
        return types

    def list_images(self) -> list[Image]:
        # Public images number in the hundreds of thousands: list Amazon's and the account's own.
        images = self._pages("DescribeImages", "Images", Owners=["self", "amazon"],
                             Filters=[{"Name": "state", "Values": ["available"]}], MaxResults=1000)
        return [Image(image_id=i["ImageId"],
                      os_type="windows" if (i.get("Platform") or "").lower() == "windows" else "linux",
                      os_name=i.get("Description") or i.get("Name") or i["ImageId"])
                for i in images]


def _snake(api: str) -> str:
    """boto3's method name for an EC2 API: "RunInstances" -> "run_instances"."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(api))


def _state(raw: dict) -> str:
    """EC2's "available"/"pending" in the capitalised form the other clouds (and the API) use."""
    return (raw.get("State") or "pending").title()


def _tag_list(tags: dict) -> list[dict]:
    return [{"Key": k, "Value": str(v)} for k, v in tags.items()]


def _tags(raw: dict) -> dict:
    return {t["Key"]: t.get("Value") for t in raw.get("Tags") or []}


def _router_ip(cidr: Optional[str]) -> Optional[str]:
    """EC2 puts a subnet's router at the network address + 1."""
    try:
        return str(ipaddress.ip_network(cidr)[1]) if cidr else None
    except ValueError:
        return None


def _instance(raw: dict) -> Instance:
    return Instance(
        instance_id=raw["InstanceId"],
        # An unknown state is reported as pending: the engine keeps polling instead of acting.
        status=_STATUS.get((raw.get("State") or {}).get("Name"), PENDING),
        ip_inner=raw.get("PrivateIpAddress") or None, ip_outer=raw.get("PublicIpAddress") or None,
        zone_id=(raw.get("Placement") or {}).get("AvailabilityZone"), instance_type=raw.get("InstanceType"),
        tags=_tags(raw), created_at=parse_time(raw.get("LaunchTime")))


def _permission(rule: Rule) -> dict:
    """Our rule as an EC2 IpPermission."""
    protocol = _PROTOCOLS.get(rule.protocol.lower(), rule.protocol.lower())
    permission = {"IpProtocol": protocol}
    if protocol in ("tcp", "udp", "icmp"):
        low, _, high = (rule.port_range or "-1/-1").partition("/")
        permission["FromPort"], permission["ToPort"] = int(low), int(high or low)
    if rule.cidr_ip:
        permission["IpRanges"] = [{"CidrIp": rule.cidr_ip}]
    if rule.group_id:
        permission["UserIdGroupPairs"] = [{"GroupId": rule.group_id}]
    if rule.prefix_list_id:
        permission["PrefixListIds"] = [{"PrefixListId": rule.prefix_list_id}]
    return permission


def _rules(permission: dict, direction: str) -> list[Rule]:
    """One EC2 IpPermission (several peers) as our rules (one peer each)."""
    protocol = _PROTOCOL_NAMES.get(str(permission.get("IpProtocol")), str(permission.get("IpProtocol")))
    if protocol in ("tcp", "udp") and permission.get("FromPort") is not None:
        port_range = f"{permission['FromPort']}/{permission.get('ToPort', permission['FromPort'])}"
    else:
        port_range = "-1/-1"
    base = dict(protocol=protocol, port_range=port_range, direction=direction)
    return ([Rule(**base, cidr_ip=r["CidrIp"]) for r in permission.get("IpRanges") or []]
            + [Rule(**base, group_id=g["GroupId"]) for g in permission.get("UserIdGroupPairs") or []]
            + [Rule(**base, prefix_list_id=p["PrefixListId"]) for p in permission.get("PrefixListIds") or []])

"""TencentCloud driver: CVM 2017-03-12 (instances, catalogue) and VPC 2017-03-12 (VPCs, subnets,
security groups) through the tencentcloud SDK's JSON call interface.

The SDK's own retryer is never installed (it raises after a later success); our retry policy
is the only one. Responses are parsed outside `call` so a parsing bug surfaces as itself.
"""
from __future__ import annotations

from datetime import timedelta, timezone
from functools import lru_cache
from typing import Optional

from app.providers._util import delete_tolerating_gone, parse_time, price_text, split_endpoint
from app.providers.base import (
    DELETED, PENDING, RUNNING, STOPPED, AuthFailed, CloudError, CloudUnavailable, CreateResult,
    Image, Instance, InstanceSpec, InstanceType, InvalidRequest, Limits, NotFound, OutOfCapacity,
    Provider, QuotaExceeded, Region, Rule, SecurityGroup, Subnet, Throttled, Vpc, Zone, chunks,
)

_STATUS = {
    "PENDING": PENDING, "STARTING": PENDING, "REBOOTING": PENDING, "RUNNING": RUNNING,
    "STOPPING": STOPPED, "STOPPED": STOPPED, "SHUTDOWN": STOPPED,  # SHUTDOWN: isolated, awaiting release
    # A failed launch never becomes a machine and bills nothing: to the engine it is gone.
    "LAUNCH_FAILED": DELETED, "TERMINATING": DELETED,
}
_CHARGE = {"PostPaid": "POSTPAID_BY_HOUR", "PrePaid": "PREPAID"}
_INTERNET_CHARGE = {"PayByTraffic": "TRAFFIC_POSTPAID_BY_HOUR", "PayByBandwidth": "BANDWIDTH_POSTPAID_BY_HOUR"}
# Spot refusals (SDK error codes; the last one is what an account without spot access gets): on
# demand may still have room, so these are capacity errors, not quota or bad input.
_SPOT_REFUSED = {"InvalidParameterValue.InsufficientPrice", "LimitExceeded.SpotQuota", "LimitExceeded.UserSpotQuota",
                 "UnsupportedOperation.NoInstanceTypeSupportSpot", "UnsupportedOperation.SpotUnsupportedRegion",
                 "InvalidInstanceChargeType.OnlySupportedForSpot"}
# Tencent security groups belong to the region, not to a VPC; we tag the VPC they were made for.
_VPC_TAG = "bridgx-vpc"
# VPC-API timestamps carry no offset and are Beijing time.
_BEIJING = timezone(timedelta(hours=8))


@lru_cache(maxsize=64)
def _clients(access_key: str, secret_key: str, endpoint: Optional[str], region_id: str):
    """(CVM client, VPC client), built once per account, region and endpoint."""
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.cvm.v20170312.cvm_client import CvmClient
    from tencentcloud.vpc.v20170312.vpc_client import VpcClient

    def profile():
        if endpoint:
            # An override (emulator, proxy) serves CVM and VPC alike.
            protocol, host = split_endpoint(endpoint)
            http = HttpProfile(protocol=protocol, endpoint=host, reqTimeout=30)
        else:
            http = HttpProfile(reqTimeout=30)
        return ClientProfile(httpProfile=http)  # retryer=None: one attempt per call

    cred = Credential(access_key, secret_key)
    return CvmClient(cred, region_id, profile()), VpcClient(cred, region_id, profile())


class TencentProvider(Provider):
    name = "TencentCloud"
    default_region = "ap-guangzhou"
    limits = Limits(
        max_create=100, max_describe_ids=100, max_delete_ids=100, page_size=100,
        # RunInstances and TerminateInstances are limited to 10 requests/s; 20/s is the
        # default for other APIs.
        rates={"RunInstances": 10.0, "TerminateInstances": 10.0, "*": 20.0},
        # MinCount exists but only works for allow-listed accounts: plan all-or-nothing batches.
        supports_partial_create=False,
    )

    # ------------------------------------------------------------ plumbing
    def _run(self, service: str, action: str, params: dict) -> dict:
        """Call `action` on "cvm" or "vpc"; the "Response" object."""

        def once():
            # The clients are made inside the call, so what the SDK refuses there is translated too.
            cvm, vpc = _clients(self.credentials.access_key, self.credentials.secret_key,
                                self.credentials.endpoint, self.region_id)
            client = cvm if service == "cvm" else vpc
            response = client.call_json(action, params)["Response"]
            # The SDK checks for errors only when Content-Type is exactly application/json;
            # a proxy adding "; charset=utf-8" would make it hand us the error as a success.
            if "Error" in response:
                from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

                error = response["Error"]
                raise TencentCloudSDKException(error.get("Code"), error.get("Message"), response.get("RequestId"))
            return response

        return self.call(action, once)

    def translate(self, exc: Exception) -> CloudError:
        code = str(getattr(exc, "code", "") or "")
        message = str(getattr(exc, "message", "") or exc)
        request_id = str(getattr(exc, "requestId", "") or "")
        if code.startswith("RequestLimitExceeded"):
            return Throttled(message, code, request_id)
        if code.startswith(("ResourceInsufficient", "ResourcesSoldOut")) or code in _SPOT_REFUSED:
            return OutOfCapacity(message, code, request_id)
        if code.startswith("LimitExceeded"):
            return QuotaExceeded(message, code, request_id)
        if code.startswith("AuthFailure"):
            return AuthFailed(message, code, request_id)
        # UnsupportedOperation.InstanceStateTerminating/-Terminated: the instance is already
        # being released, which for every caller means it is gone.
        if code.endswith("NotFound") or code.startswith("ResourceNotFound") or ".InstanceStateTerminat" in code:
            return NotFound(message, code, request_id)
        # ServerNetworkError: any non-200 answer; ClientNetworkError: connection or timeout.
        if code.startswith(("InternalError", "ServerNetworkError", "ClientNetworkError")):
            return CloudUnavailable(message, code, request_id)
        if code:
            return InvalidRequest(message, code, request_id)
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return CloudUnavailable(message, type(exc).__name__, request_id)
        return CloudError(message, type(exc).__name__, request_id)

    # ------------------------------------------------------------ instances
    def create_instances(self, spec: InstanceSpec, count: int, client_token: str, tags: dict,
                         min_count: Optional[int] = None) -> CreateResult:
        self.keep_secret(spec.password)
        params = {
            "Placement": {"Zone": spec.zone_id},
            "InstanceType": spec.instance_type,
            "ImageId": spec.image_id,
            "InstanceChargeType": _CHARGE.get(spec.charge_type, spec.charge_type),
            "VirtualPrivateCloud": {"VpcId": spec.vpc_id, "SubnetId": spec.subnet_id},
            "SecurityGroupIds": [spec.security_group_id],
            "InstanceCount": count,
            "ClientToken": client_token,
            "InstanceName": spec.name_prefix,
            "TagSpecification": [{"ResourceType": "instance",
                                  "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}],
        }
        if spec.spot:
            # RunInstances requires a bid (MaxPrice); without a ceiling we bid the on-demand price,
            # which the spot price never exceeds. A one-time request: a reclaimed machine is gone.
            params["InstanceChargeType"] = "SPOTPAID"
            params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "MaxPrice": price_text(spec.spot_price_limit or self._on_demand_price(spec)),
                "SpotInstanceType": "one-time"}}
        if params["InstanceChargeType"] == "PREPAID":
            if spec.period_unit and spec.period_unit != "Month":
                raise InvalidRequest("TencentCloud prepaid periods are counted in months", "InvalidPeriodUnit")
            params["InstanceChargePrepaid"] = {"Period": spec.period or 1, "RenewFlag": "NOTIFY_AND_MANUAL_RENEW"}
        if spec.password:
            params["LoginSettings"] = {"Password": spec.password}
        if spec.system_disk:
            params["SystemDisk"] = {"DiskType": spec.system_disk.category, "DiskSize": spec.system_disk.size}
        if spec.data_disks:
            params["DataDisks"] = [{"DiskType": d.category, "DiskSize": d.size} for d in spec.data_disks]
        if spec.internet_max_bandwidth_out > 0:
            params["InternetAccessible"] = {
                "InternetChargeType": _INTERNET_CHARGE.get(spec.internet_charge_type or "PayByTraffic",
                                                           spec.internet_charge_type),
                "InternetMaxBandwidthOut": spec.internet_max_bandwidth_out, "PublicIpAssigned": True}
        response = self._run("cvm", "RunInstances", params)
        return CreateResult(instance_ids=list(response.get("InstanceIdSet") or []),
                            request_id=response.get("RequestId", ""))

    def _on_demand_price(self, spec: InstanceSpec) -> float:
        """The hourly pay-as-you-go price of one machine of this spec."""
        response = self._run("cvm", "InquiryPriceRunInstances", {
            "Placement": {"Zone": spec.zone_id}, "ImageId": spec.image_id, "InstanceType": spec.instance_type,
            "InstanceChargeType": "POSTPAID_BY_HOUR", "InstanceCount": 1})
        price = ((response.get("Price") or {}).get("InstancePrice") or {}).get("UnitPrice")
        if not price:
            raise InvalidRequest(f"TencentCloud quoted no hourly price for {spec.instance_type}", "NoPrice")
        return float(price)

    def describe_instances(self, instance_ids: list[str]) -> list[Instance]:
        found = []
        for batch in chunks(list(instance_ids), self.limits.max_describe_ids):
            response = self._run("cvm", "DescribeInstances", {"InstanceIds": batch, "Limit": len(batch)})
            found += [_instance(raw) for raw in response.get("InstanceSet") or []]
        return found

    def describe_instances_by_tags(self, tags: dict) -> list[Instance]:
        filters = [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in tags.items()]
        found = {}
        offset = 0
        while True:
            response = self._run("cvm", "DescribeInstances",
                                 {"Filters": filters, "Offset": offset, "Limit": self.limits.page_size})
            page = response.get("InstanceSet") or []
            for raw in page:  # offset paging can repeat an item when the set changes meanwhile
                found[raw["InstanceId"]] = _instance(raw)
            offset += len(page)
            if not page or offset >= int(response.get("TotalCount") or 0):
                break
        return [i for i in found.values() if i.status != DELETED]

    def delete_instances(self, instance_ids: list[str]) -> None:
        def delete(ids):
            self._run("cvm", "TerminateInstances", {"InstanceIds": ids})

        for batch in chunks(list(instance_ids), self.limits.max_delete_ids):
            delete_tolerating_gone(self, batch, delete)

    # ------------------------------------------------------------ network
    def _vpc_pages(self, action: str, key: str, params: dict) -> list[dict]:
        """Walk an Offset/Limit listing of the VPC API (which takes them as strings)."""
        items, offset, limit = [], 0, self.limits.page_size
        while True:
            response = self._run("vpc", action, {**params, "Offset": str(offset), "Limit": str(limit)})
            page = response.get(key) or []
            items += page
            offset += len(page)
            if not page or offset >= int(response.get("TotalCount") or 0):
                return items

    def create_vpc(self, name: str, cidr_block: str, client_token: Optional[str] = None) -> str:
        # CreateVpc takes no client token: a retry after a lost answer may leave a spare VPC.
        response = self._run("vpc", "CreateVpc", {"VpcName": name, "CidrBlock": cidr_block})
        return response["Vpc"]["VpcId"]

    def describe_vpcs(self) -> list[Vpc]:
        return [Vpc(vpc_id=raw["VpcId"], name=raw.get("VpcName") or "", cidr_block=raw.get("CidrBlock") or "",
                    region_id=self.region_id, created_at=parse_time(raw.get("CreatedTime"), _BEIJING))
                for raw in self._vpc_pages("DescribeVpcs", "VpcSet", {})]

    def delete_vpc(self, vpc_id: str) -> None:
        self._run("vpc", "DeleteVpc", {"VpcId": vpc_id})

    def create_subnet(self, vpc_id: str, zone_id: str, name: str, cidr_block: str,
                      client_token: Optional[str] = None) -> str:
        response = self._run("vpc", "CreateSubnet",
                             {"VpcId": vpc_id, "SubnetName": name, "CidrBlock": cidr_block, "Zone": zone_id})
        return response["Subnet"]["SubnetId"]

    def describe_subnets(self, vpc_id: Optional[str] = None) -> list[Subnet]:
        params = {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]} if vpc_id else {}
        return [Subnet(subnet_id=raw["SubnetId"], vpc_id=raw.get("VpcId") or "", zone_id=raw.get("Zone") or "",
                       name=raw.get("SubnetName") or "", cidr_block=raw.get("CidrBlock") or "",
                       available_ip_count=raw.get("AvailableIpAddressCount"), is_default=bool(raw.get("IsDefault")),
                       created_at=parse_time(raw.get("CreatedTime"), _BEIJING))
                for raw in self._vpc_pages("DescribeSubnets", "SubnetSet", params)]

    def delete_subnet(self, subnet_id: str, vpc_id: Optional[str] = None) -> None:
        self._run("vpc", "DeleteSubnet", {"SubnetId": subnet_id})

    def create_security_group(self, vpc_id: str, name: str, group_type: str = "normal",
                              rules: Optional[list[Rule]] = None,
                              client_token: Optional[str] = None) -> str:
        response = self._run("vpc", "CreateSecurityGroup", {
            "GroupName": name, "GroupDescription": name, "Tags": [{"Key": _VPC_TAG, "Value": vpc_id}]})
        group_id = response["SecurityGroup"]["SecurityGroupId"]
        self.add_security_group_rules(group_id, rules or [])
        return group_id

    def add_security_group_rules(self, group_id: str, rules: list[Rule]) -> None:
        # One direction per CreateSecurityGroupPolicies call.
        for direction, key in (("ingress", "Ingress"), ("egress", "Egress")):
            policies = [_policy(r) for r in rules or [] if (r.direction or "ingress") == direction]
            if policies:
                self._run("vpc", "CreateSecurityGroupPolicies", {
                    "SecurityGroupId": group_id, "SecurityGroupPolicySet": {key: policies}})

    def describe_security_groups(self, vpc_id: Optional[str] = None) -> list[SecurityGroup]:
        groups = []
        for raw in self._vpc_pages("DescribeSecurityGroups", "SecurityGroupSet", {}):
            tags = {t.get("Key"): t.get("Value") for t in raw.get("TagSet") or []}
            group_vpc = tags.get(_VPC_TAG, "")
            # An untagged group is region-wide and usable from any VPC.
            if vpc_id and group_vpc not in ("", vpc_id):
                continue
            groups.append(SecurityGroup(group_id=raw["SecurityGroupId"], vpc_id=group_vpc,
                                        name=raw.get("SecurityGroupName") or "",
                                        created_at=parse_time(raw.get("CreatedTime"), _BEIJING)))
        for group in groups:  # rules come only from the per-group call
            response = self._run("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group.group_id})
            policy_set = response.get("SecurityGroupPolicySet") or {}
            group.rules = ([_rule(p, "ingress") for p in policy_set.get("Ingress") or []]
                           + [_rule(p, "egress") for p in policy_set.get("Egress") or []])
        return groups

    def delete_security_group(self, group_id: str) -> None:
        self._run("vpc", "DeleteSecurityGroup", {"SecurityGroupId": group_id})

    # ------------------------------------------------------------ catalogue
    def list_regions(self) -> list[Region]:
        response = self._run("cvm", "DescribeRegions", {})
        return [Region(region_id=r["Region"], local_name=r.get("RegionName") or r["Region"])
                for r in response.get("RegionSet") or []]

    def list_zones(self) -> list[Zone]:
        response = self._run("cvm", "DescribeZones", {})
        return [Zone(zone_id=z["Zone"], local_name=z.get("ZoneName") or z["Zone"])
                for z in response.get("ZoneSet") or [] if z.get("ZoneState", "AVAILABLE") == "AVAILABLE"]

    def list_instance_types(self, zone_id: Optional[str] = None) -> list[InstanceType]:
        params = {"Filters": [{"Name": "zone", "Values": [zone_id]}]} if zone_id else {}
        response = self._run("cvm", "DescribeInstanceTypeConfigs", params)
        seen, types = set(), []
        for t in response.get("InstanceTypeConfigSet") or []:
            if t["InstanceType"] not in seen:  # without a zone filter each zone repeats its types
                seen.add(t["InstanceType"])
                types.append(InstanceType(family=t.get("InstanceFamily") or "", instance_type=t["InstanceType"],
                                          cores=int(t.get("CPU") or 0), memory_gb=float(t.get("Memory") or 0)))
        return types

    def list_images(self) -> list[Image]:
        images, offset, limit = [], 0, self.limits.page_size
        while True:
            response = self._run("cvm", "DescribeImages", {"Offset": offset, "Limit": limit})
            page = response.get("ImageSet") or []
            for i in page:
                os_name = i.get("OsName") or i.get("ImageName") or i["ImageId"]
                windows = "windows" in f"{i.get('Platform', '')} {os_name}".lower()
                images.append(Image(image_id=i["ImageId"], os_type="windows" if windows else "linux", os_name=os_name))
            offset += len(page)
            if not page or offset >= int(response.get("TotalCount") or 0):
                return images


def _instance(raw: dict) -> Instance:
    private = raw.get("PrivateIpAddresses") or []
    public = raw.get("PublicIpAddresses") or []
    return Instance(
        instance_id=raw["InstanceId"],
        # An unknown state is reported as pending: the engine keeps polling instead of acting.
        status=_STATUS.get(raw.get("InstanceState"), PENDING),
        ip_inner=private[0] if private else None, ip_outer=public[0] if public else None,
        zone_id=(raw.get("Placement") or {}).get("Zone"), instance_type=raw.get("InstanceType"),
        tags={t.get("Key"): t.get("Value") for t in raw.get("Tags") or []},
        created_at=parse_time(raw.get("CreatedTime")))


def _policy(rule: Rule) -> dict:
    """Our rule as a Tencent policy: ports "22/22" -> "22", "80/90" -> "80-90", "-1/-1" -> "ALL"."""
    low, _, high = (rule.port_range or "-1/-1").partition("/")
    if low in ("-1", "") or rule.protocol.lower() in ("icmp", "gre", "all"):
        port = "ALL"
    else:
        port = low if low == (high or low) else f"{low}-{high}"
    policy = {"Protocol": rule.protocol.upper(), "Port": port, "Action": "ACCEPT"}
    if rule.cidr_ip:
        policy["CidrBlock"] = rule.cidr_ip
    if rule.group_id:
        policy["SecurityGroupId"] = rule.group_id
    return policy


def _rule(policy: dict, direction: str) -> Rule:
    port = str(policy.get("Port") or "ALL")
    if port.upper() == "ALL":
        port_range = "-1/-1"
    else:
        low, _, high = port.partition("-")
        port_range = f"{low}/{high or low}"
    return Rule(protocol=str(policy.get("Protocol") or "").lower(), port_range=port_range, direction=direction,
                cidr_ip=policy.get("CidrBlock") or None, group_id=policy.get("SecurityGroupId") or None)

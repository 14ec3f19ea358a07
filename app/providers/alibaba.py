"""AlibabaCloud driver: ECS 2014-05-26 (instances, security groups, catalogue) and VPC 2016-04-28
(VPCs, vSwitches) through the Tea SDKs.

Each SDK call returns the response body as the plain dict the API sent (`body.to_map()`, or for
DescribeInstances the SDK's generic `call_api`), parsed outside `call` so that a parsing bug
surfaces as itself instead of as a cloud error.
"""
from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Optional

from app.providers._util import delete_tolerating_gone, parse_time, split_endpoint
from app.providers.base import (
    DELETED, PENDING, RUNNING, STOPPED, AuthFailed, CloudError, CloudUnavailable, CreateResult,
    Image, Instance, InstanceSpec, InstanceType, InvalidRequest, Limits, NotFound, OutOfCapacity,
    Provider, QuotaExceeded, Region, Rule, SecurityGroup, Subnet, Throttled, Vpc, Zone, chunks,
)

_STATUS = {"Pending": PENDING, "Starting": PENDING, "Running": RUNNING,
           "Stopping": STOPPED, "Stopped": STOPPED, "Deleted": DELETED}

# DescribeVpcs / DescribeVSwitches accept at most 50 per page (ECS lists accept 100).
_VPC_PAGE = 50


@lru_cache(maxsize=64)
def _clients(access_key: str, secret_key: str, endpoint: Optional[str], region_id: str):
    """(ECS client, VPC client), built once per account, region and endpoint."""
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_tea_openapi.models import Config
    from alibabacloud_vpc20160428.client import Client as VpcClient

    def config():
        # Timeouts in ms. No retry_options: the Tea SDK then makes exactly one attempt and our
        # retry policy is the only one.
        cfg = Config(access_key_id=access_key, access_key_secret=secret_key, region_id=region_id,
                     connect_timeout=5000, read_timeout=30000)
        if endpoint:
            # An override (emulator, proxy, finance cloud) serves ECS and VPC alike.
            cfg.protocol, cfg.endpoint = split_endpoint(endpoint)
        return cfg

    return EcsClient(config()), VpcClient(config())


@lru_cache(maxsize=1)
def _describe_instances_api():
    """The API description the SDK's typed DescribeInstances passes to `call_api` (ECS 2014-05-26)."""
    from alibabacloud_tea_openapi.utils_models import Params
    return Params(action="DescribeInstances", version="2014-05-26", protocol="HTTPS", pathname="/", method="POST",
                  auth_type="AK", style="RPC", req_body_type="formData", body_type="json")


def _models():
    from alibabacloud_ecs20140526 import models as ecs
    from alibabacloud_vpc20160428 import models as vpc

    return ecs, vpc


class AlibabaProvider(Provider):
    name = "AlibabaCloud"
    default_region = "cn-hangzhou"
    limits = Limits(
        max_create=100, max_describe_ids=100, max_delete_ids=100, page_size=100,
        # Alibaba publishes per-API quotas per account and region, and caps creation at 5,000
        # instances a minute per account: full batches of 100 at 0.8 calls/s stay under it.
        rates={"RunInstances": 0.8, "DeleteInstances": 10.0, "Describe*": 20.0, "*": 10.0},
        supports_partial_create=True,
    )

    # ------------------------------------------------------------ plumbing
    @property
    def _ecs(self):
        c = self.credentials
        return _clients(c.access_key, c.secret_key, c.endpoint, self.region_id)[0]

    @property
    def _vpc(self):
        c = self.credentials
        return _clients(c.access_key, c.secret_key, c.endpoint, self.region_id)[1]

    def _run(self, api: str, fn) -> dict:
        """Run one SDK call under the call policy; the response body as the API's own dict."""
        return self.call(api, lambda: fn().body.to_map())

    def translate(self, exc: Exception) -> CloudError:
        code = str(getattr(exc, "code", "") or "")
        status = getattr(exc, "status_code", None)
        request_id = str(getattr(exc, "request_id", "") or "")
        message = str(getattr(exc, "message", "") or exc)
        # The SDK raises ThrottlingException for any error carrying x-acs-retry-after (ms).
        retry_after_ms = getattr(exc, "retry_after", None)
        if code.startswith("Throttling") or retry_after_ms:
            seconds = retry_after_ms / 1000.0 if retry_after_ms else None
            return Throttled(message, code, request_id, retry_after=seconds)
        if code.endswith("NoStock") or code.startswith(("ResourceNotAvailable", "Zone.NotOnSale")):
            return OutOfCapacity(message, code, request_id)
        if "QuotaExceed" in code or code.startswith("QuotaExceeded"):
            return QuotaExceeded(message, code, request_id)
        if code.startswith(("InvalidAccessKeyId", "InvalidAccessKeySecret", "SignatureDoesNotMatch",
                            "IncompleteSignature", "InvalidCredentials")):
            return AuthFailed(message, code, request_id)
        if code.endswith("NotFound"):
            return NotFound(message, code, request_id)
        if status is not None:
            if 400 <= status < 500:
                return InvalidRequest(message, code, request_id)
            return CloudUnavailable(message, code, request_id)
        name = type(exc).__name__
        # UnretryableException wraps a connection error, a timeout or an unreadable error body.
        if name == "UnretryableException" or isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return CloudUnavailable(message, code or name, request_id)
        if name in ("ValidateException", "RequiredArgumentException"):
            return InvalidRequest(message, code or name, request_id)
        return CloudError(message, code or name, request_id)

    # ------------------------------------------------------------ instances
    def create_instances(self, spec: InstanceSpec, count: int, client_token: str, tags: dict,
                         min_count: Optional[int] = None) -> CreateResult:
        self.keep_secret(spec.password)
        ecs, _ = _models()
        request = ecs.RunInstancesRequest(
            region_id=self.region_id, zone_id=spec.zone_id, instance_type=spec.instance_type,
            image_id=spec.image_id, v_switch_id=spec.subnet_id, security_group_id=spec.security_group_id,
            amount=count, min_amount=min_count, client_token=client_token,
            instance_name=spec.name_prefix, unique_suffix=True, password=spec.password,
            instance_charge_type=spec.charge_type, period=spec.period, period_unit=spec.period_unit,
            internet_charge_type=spec.internet_charge_type,
            internet_max_bandwidth_out=spec.internet_max_bandwidth_out or None,
            tag=[ecs.RunInstancesRequestTag(key=k, value=str(v)) for k, v in tags.items()],
        )
        if spec.spot:  # SpotStrategy counts only for pay-as-you-go machines
            request.instance_charge_type, request.period, request.period_unit = "PostPaid", None, None
            request.spot_strategy = "SpotWithPriceLimit" if spec.spot_price_limit else "SpotAsPriceGo"
            request.spot_price_limit = spec.spot_price_limit
        if spec.system_disk:
            request.system_disk = ecs.RunInstancesRequestSystemDisk(
                category=spec.system_disk.category, size=str(spec.system_disk.size))
        if spec.data_disks:
            request.data_disk = [ecs.RunInstancesRequestDataDisk(category=d.category, size=d.size)
                                 for d in spec.data_disks]
        body = self._run("RunInstances", lambda: self._ecs.run_instances(request))
        ids = (body.get("InstanceIdSets") or {}).get("InstanceIdSet") or []
        return CreateResult(instance_ids=list(ids), request_id=body.get("RequestId", ""))

    def describe_instances(self, instance_ids: list[str]) -> list[Instance]:
        found = []
        for batch in chunks(list(instance_ids), self.limits.max_describe_ids):
            found += self._describe_pages({"InstanceIds": json.dumps(batch)})
        return found

    def describe_instances_by_tags(self, tags: dict) -> list[Instance]:
        found = self._describe_pages({"Tag": [{"Key": k, "Value": str(v)} for k, v in tags.items()]})
        return [i for i in found if i.status != DELETED]

    def _describe_pages(self, query: dict) -> list[Instance]:
        """DescribeInstances, every page, through the SDK's generic call (`call_api`, which the typed
        `describe_instances` calls too, with the same request): the body is the JSON the API sent,
        without the typed method's model of every machine's ~60 fields built and then turned back
        into a dict (bench/README.md, "Session of 2 Dec 2026, evening": about 5 % of the worker's CPU
        in a 20,000-machine fleet)."""
        from alibabacloud_tea_openapi.utils import Utils
        from alibabacloud_tea_openapi.utils_models import OpenApiRequest
        from darabonba.runtime import RuntimeOptions
        instances, seen, token = [], set(), None
        while True:
            request = OpenApiRequest(query=Utils.query({
                "RegionId": self.region_id, "MaxResults": self.limits.page_size, "NextToken": token, **query}))
            body = self.call("DescribeInstances",
                             lambda: self._ecs.call_api(_describe_instances_api(), request, RuntimeOptions())["body"])
            for raw in (body.get("Instances") or {}).get("Instance") or []:
                if raw["InstanceId"] not in seen:
                    seen.add(raw["InstanceId"])
                    instances.append(_instance(raw))
            token = body.get("NextToken")
            if not token:
                return instances

    def delete_instances(self, instance_ids: list[str]) -> None:
        ecs, _ = _models()

        def delete(ids):
            # Force: machines removed by a shrink are usually still running.
            request = ecs.DeleteInstancesRequest(region_id=self.region_id, instance_id=ids, force=True)
            self._run("DeleteInstances", lambda: self._ecs.delete_instances(request))

        for batch in chunks(list(instance_ids), self.limits.max_delete_ids):
            delete_tolerating_gone(self, batch, delete)

    # ------------------------------------------------------------ network
    def create_vpc(self, name: str, cidr_block: str, client_token: Optional[str] = None) -> str:
        _, vpc = _models()
        # A token made here, outside `call`, makes our own retries of this create idempotent.
        request = vpc.CreateVpcRequest(region_id=self.region_id, vpc_name=name, cidr_block=cidr_block,
                                       client_token=client_token or uuid.uuid4().hex)
        return self._run("CreateVpc", lambda: self._vpc.create_vpc(request))["VpcId"]

    def describe_vpcs(self) -> list[Vpc]:
        _, vpc = _models()
        pages = self._vpc_pages("Vpcs", "Vpc", lambda page: self._run("DescribeVpcs", lambda: self._vpc.describe_vpcs(
            vpc.DescribeVpcsRequest(region_id=self.region_id, page_number=page, page_size=_VPC_PAGE))))
        return [Vpc(vpc_id=raw["VpcId"], name=raw.get("VpcName") or "", cidr_block=raw.get("CidrBlock") or "",
                    status=raw.get("Status") or "Available", region_id=raw.get("RegionId") or self.region_id,
                    created_at=parse_time(raw.get("CreationTime")))
                for raw in pages]

    def delete_vpc(self, vpc_id: str) -> None:
        _, vpc = _models()
        request = vpc.DeleteVpcRequest(region_id=self.region_id, vpc_id=vpc_id)
        self._run("DeleteVpc", lambda: self._vpc.delete_vpc(request))

    def create_subnet(self, vpc_id: str, zone_id: str, name: str, cidr_block: str,
                      client_token: Optional[str] = None) -> str:
        _, vpc = _models()
        request = vpc.CreateVSwitchRequest(
            region_id=self.region_id, vpc_id=vpc_id, zone_id=zone_id, v_switch_name=name,
            cidr_block=cidr_block, client_token=client_token or uuid.uuid4().hex)
        return self._run("CreateVSwitch", lambda: self._vpc.create_vswitch(request))["VSwitchId"]

    def describe_subnets(self, vpc_id: Optional[str] = None) -> list[Subnet]:
        _, vpc = _models()
        pages = self._vpc_pages("VSwitches", "VSwitch", lambda page: self._run(
            "DescribeVSwitches", lambda: self._vpc.describe_vswitches(vpc.DescribeVSwitchesRequest(
                region_id=self.region_id, vpc_id=vpc_id, page_number=page, page_size=_VPC_PAGE))))
        return [Subnet(subnet_id=raw["VSwitchId"], vpc_id=raw.get("VpcId") or "", zone_id=raw.get("ZoneId") or "",
                       name=raw.get("VSwitchName") or "", cidr_block=raw.get("CidrBlock") or "",
                       status=raw.get("Status") or "Available",
                       available_ip_count=raw.get("AvailableIpAddressCount"),
                       is_default=bool(raw.get("IsDefault")), created_at=parse_time(raw.get("CreationTime")))
                for raw in pages]

    def delete_subnet(self, subnet_id: str, vpc_id: Optional[str] = None) -> None:
        _, vpc = _models()
        request = vpc.DeleteVSwitchRequest(region_id=self.region_id, v_switch_id=subnet_id)
        self._run("DeleteVSwitch", lambda: self._vpc.delete_vswitch(request))

    @staticmethod
    def _vpc_pages(outer: str, inner: str, fetch) -> list[dict]:
        """Walk a PageNumber/PageSize listing; fetch(page) returns one page's body."""
        items, page = [], 1
        while True:
            body = fetch(page)
            batch = (body.get(outer) or {}).get(inner) or []
            items += batch
            total = body.get("TotalCount")
            if len(batch) < _VPC_PAGE or (total is not None and len(items) >= int(total)):
                return items
            page += 1

    def create_security_group(self, vpc_id: str, name: str, group_type: str = "normal",
                              rules: Optional[list[Rule]] = None,
                              client_token: Optional[str] = None) -> str:
        ecs, _ = _models()
        request = ecs.CreateSecurityGroupRequest(
            region_id=self.region_id, vpc_id=vpc_id, security_group_name=name,
            security_group_type=group_type or "normal", client_token=client_token or uuid.uuid4().hex)
        created = self._run("CreateSecurityGroup", lambda: self._ecs.create_security_group(request))
        group_id = created["SecurityGroupId"]
        self.add_security_group_rules(group_id, rules or [])
        return group_id

    def add_security_group_rules(self, group_id: str, rules: list[Rule]) -> None:
        ecs, _ = _models()
        ingress = [r for r in rules or [] if r.direction != "egress"]
        egress = [r for r in rules or [] if r.direction == "egress"]
        for batch in chunks(ingress, 100):  # up to 100 permissions per call
            allow_in = ecs.AuthorizeSecurityGroupRequest(
                region_id=self.region_id, security_group_id=group_id, permissions=[
                    ecs.AuthorizeSecurityGroupRequestPermissions(
                        ip_protocol=r.protocol, port_range=r.port_range, source_cidr_ip=r.cidr_ip,
                        source_group_id=r.group_id, source_prefix_list_id=r.prefix_list_id, policy="accept")
                    for r in batch])
            self._run("AuthorizeSecurityGroup", lambda: self._ecs.authorize_security_group(allow_in))
        for batch in chunks(egress, 100):
            allow_out = ecs.AuthorizeSecurityGroupEgressRequest(
                region_id=self.region_id, security_group_id=group_id, permissions=[
                    ecs.AuthorizeSecurityGroupEgressRequestPermissions(
                        ip_protocol=r.protocol, port_range=r.port_range, dest_cidr_ip=r.cidr_ip,
                        dest_group_id=r.group_id, dest_prefix_list_id=r.prefix_list_id, policy="accept")
                    for r in batch])
            self._run("AuthorizeSecurityGroupEgress", lambda: self._ecs.authorize_security_group_egress(allow_out))

    def describe_security_groups(self, vpc_id: Optional[str] = None) -> list[SecurityGroup]:
        ecs, _ = _models()
        groups, token = [], None
        while True:
            request = ecs.DescribeSecurityGroupsRequest(
                region_id=self.region_id, vpc_id=vpc_id, max_results=self.limits.page_size, next_token=token)
            body = self._run("DescribeSecurityGroups", lambda: self._ecs.describe_security_groups(request))
            for raw in (body.get("SecurityGroups") or {}).get("SecurityGroup") or []:
                groups.append(SecurityGroup(
                    group_id=raw["SecurityGroupId"], vpc_id=raw.get("VpcId") or "",
                    name=raw.get("SecurityGroupName") or "", group_type=raw.get("SecurityGroupType") or "normal",
                    created_at=parse_time(raw.get("CreationTime"))))
            token = body.get("NextToken")
            if not token:
                break
        for group in groups:  # rules come only from the per-group call
            group.rules = self._rules(group.group_id)
        return groups

    def _rules(self, group_id: str) -> list[Rule]:
        ecs, _ = _models()
        request = ecs.DescribeSecurityGroupAttributeRequest(region_id=self.region_id, security_group_id=group_id)
        body = self._run("DescribeSecurityGroupAttribute", lambda: self._ecs.describe_security_group_attribute(request))
        rules = []
        for p in (body.get("Permissions") or {}).get("Permission") or []:
            egress = (p.get("Direction") or "ingress").lower() == "egress"
            side = "Dest" if egress else "Source"  # the peer of an egress rule is its destination
            rules.append(Rule(
                protocol=(p.get("IpProtocol") or "").lower(), port_range=p.get("PortRange") or "-1/-1",
                direction="egress" if egress else "ingress",
                cidr_ip=p.get(f"{side}CidrIp") or None, group_id=p.get(f"{side}GroupId") or None,
                prefix_list_id=p.get(f"{side}PrefixListId") or None))
        return rules

    def delete_security_group(self, group_id: str) -> None:
        ecs, _ = _models()
        request = ecs.DeleteSecurityGroupRequest(region_id=self.region_id, security_group_id=group_id)
        self._run("DeleteSecurityGroup", lambda: self._ecs.delete_security_group(request))

    # ------------------------------------------------------------ catalogue
    def list_regions(self) -> list[Region]:
        ecs, _ = _models()
        body = self._run("DescribeRegions", lambda: self._ecs.describe_regions(ecs.DescribeRegionsRequest()))
        return [Region(region_id=r["RegionId"], local_name=r.get("LocalName") or r["RegionId"])
                for r in (body.get("Regions") or {}).get("Region") or []]

    def _zones(self) -> list[dict]:
        ecs, _ = _models()
        request = ecs.DescribeZonesRequest(region_id=self.region_id)
        body = self._run("DescribeZones", lambda: self._ecs.describe_zones(request))
        return (body.get("Zones") or {}).get("Zone") or []

    def list_zones(self) -> list[Zone]:
        return [Zone(zone_id=z["ZoneId"], local_name=z.get("LocalName") or z["ZoneId"]) for z in self._zones()]

    def list_instance_types(self, zone_id: Optional[str] = None) -> list[InstanceType]:
        ecs, _ = _models()
        types, token = [], None
        while True:
            request = ecs.DescribeInstanceTypesRequest(max_results=self.limits.page_size, next_token=token)
            body = self._run("DescribeInstanceTypes", lambda: self._ecs.describe_instance_types(request))
            for t in (body.get("InstanceTypes") or {}).get("InstanceType") or []:
                types.append(InstanceType(
                    family=t.get("InstanceTypeFamily") or "", instance_type=t["InstanceTypeId"],
                    cores=int(t.get("CpuCoreCount") or 0), memory_gb=float(t.get("MemorySize") or 0)))
            token = body.get("NextToken")
            if not token:
                break
        if zone_id:
            # DescribeInstanceTypes is region-wide; each zone lists the types it sells.
            for z in self._zones():
                offered = set((z.get("AvailableInstanceTypes") or {}).get("InstanceTypes") or [])
                if z.get("ZoneId") == zone_id and offered:
                    types = [t for t in types if t.instance_type in offered]
        return types

    def list_images(self) -> list[Image]:
        ecs, _ = _models()
        images, page, size = [], 1, 100  # DescribeImages pages hold at most 100
        while True:
            request = ecs.DescribeImagesRequest(region_id=self.region_id, page_number=page, page_size=size)
            body = self._run("DescribeImages", lambda: self._ecs.describe_images(request))
            batch = (body.get("Images") or {}).get("Image") or []
            images += [Image(image_id=i["ImageId"], os_type=(i.get("OSType") or "linux").lower(),
                             os_name=i.get("OSName") or i.get("ImageName") or i["ImageId"]) for i in batch]
            if len(batch) < size or len(images) >= int(body.get("TotalCount") or 0):
                return images
            page += 1


def _instance(raw: dict) -> Instance:
    vpc = raw.get("VpcAttributes") or {}
    inner = ((vpc.get("PrivateIpAddress") or {}).get("IpAddress")
             or (raw.get("InnerIpAddress") or {}).get("IpAddress") or [])
    outer = ((raw.get("PublicIpAddress") or {}).get("IpAddress") or [])
    eip = (raw.get("EipAddress") or {}).get("IpAddress")
    tags = {t.get("TagKey"): t.get("TagValue") for t in (raw.get("Tags") or {}).get("Tag") or []}
    return Instance(
        instance_id=raw["InstanceId"], status=_STATUS.get(raw.get("Status"), PENDING),
        ip_inner=inner[0] if inner else None, ip_outer=outer[0] if outer else (eip or None),
        zone_id=raw.get("ZoneId"), instance_type=raw.get("InstanceType"), tags=tags,
        created_at=parse_time(raw.get("CreationTime")))

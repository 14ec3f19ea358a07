"""AlibabaCloud ECS (2014-05-26) and VPC (2016-04-28) RPC face.

Wire format (Tea SDK, alibabacloud-tea-openapi): POST /, empty body, every parameter flattened into
the query string (Tag.1.Key, InstanceId.1, SystemDisk.Category; booleans as "True"); action and
version in the x-acs-action / x-acs-version headers; ACS3-HMAC-SHA256 signature over the query and
the headers it lists. Errors: HTTP 4xx/5xx with {RequestId, HostId, Code, Message}; throttling adds
x-acs-retry-after (ms), which the SDK turns into ThrottlingException.retry_after.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from typing import Optional
from urllib.parse import parse_qsl, quote

from werkzeug.wrappers import Response

from ..model import PENDING, STOPPED, LaunchSpec, SimError, SimRule
from .base import Call, Face, iso, page, seq_token, to_int, token_seq

PROVIDER = "AlibabaCloud"
SERVICES = {"2014-05-26": "ecs", "2016-04-28": "vpc"}
_AUTH = re.compile(r"ACS3-HMAC-SHA256\s+Credential=([^,]*),\s*SignedHeaders=([^,]*),\s*Signature=([0-9a-fA-F]+)")


def _status(i) -> str:
    return {PENDING: "Pending", STOPPED: "Stopped"}.get(i.status, "Running")


def _time(ts):
    return iso(ts, "%Y-%m-%dT%H:%MZ")  # ECS writes minutes only


def _list(p: dict, name: str) -> list:
    """Values of Name.1, Name.2, ... in index order."""
    found = {}
    for key, value in p.items():
        head, _, index = key.rpartition(".")
        if head == name and index.isdigit():
            found[int(index)] = value
    return [found[i] for i in sorted(found)]


def _structs(p: dict, name: str) -> list[dict]:
    """Name.N.Field=value into [{Field: value}, ...] in index order."""
    found: dict[int, dict] = {}
    prefix = name + "."
    for key, value in p.items():
        if key.startswith(prefix):
            index, _, sub = key[len(prefix):].partition(".")
            if index.isdigit() and sub:
                found.setdefault(int(index), {})[sub] = value
    return [found[i] for i in sorted(found)]


def _json_list(p: dict, name: str, limit: int = 100) -> Optional[list]:
    if name not in p:
        return None
    try:
        values = json.loads(p[name])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError
    except ValueError:
        raise SimError("invalid", name, f"The parameter {name} must be a JSON array of strings, "
                       f'e.g. ["i-1","i-2"].', code=f"Invalid{name}.Malformed") from None
    if len(values) > limit:
        raise SimError("invalid", name, f"At most {limit} values are allowed in {name}.",
                       code=f"Invalid{name}.ValueNotSupported")
    return values


def _bool(p: dict, name: str) -> bool:
    return str(p.get(name, "")).lower() == "true"


def _need(p: dict, *names: str) -> None:
    for name in names:
        if not p.get(name):
            raise SimError("missing", name, f"{name} is mandatory for this action.", code=f"Missing{name}")


class AliyunFace(Face):
    provider = PROVIDER
    ops = {"RunInstances": "create", "CreateInstance": "create", "DescribeInstances": "describe",
           "DescribeInstanceStatus": "describe", "DeleteInstances": "delete", "DeleteInstance": "delete"}
    codes = {
        "auth_missing": (400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."),
        "auth_key": (404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."),
        "auth_signature": (400, "SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation."),
        "throttled": (400, "Throttling.User", "Request was denied due to user flow control."),
        "internal": (500, "InternalError", "The request processing has failed due to some unknown error, "
                                           "exception or failure."),
        "unknown_action": (404, "InvalidAction.NotFound", "Specified api is not found, please check your url "
                                                          "and method."),
        "missing": (400, "MissingParameter", ""),
        "invalid": (400, "InvalidParameter", ""),
        ("not_found", "region"): (404, "InvalidRegionId.NotFound", "The specified RegionId does not exist."),
        ("not_found", "zone"): (404, "InvalidZoneId.NotFound", "The specified zone does not exist."),
        ("not_found", "instance"): (404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist."),
        ("not_found", "image"): (404, "InvalidImageId.NotFound", "The specified ImageId does not exist."),
        ("not_found", "instance_type"): (400, "InvalidInstanceType.ValueNotSupported",
                                         "The specified InstanceType does not exist or beyond the permitted range."),
        ("not_found", "vpc"): (404, "InvalidVpcId.NotFound", "Specified VPC does not exist."),
        ("not_found", "subnet"): (404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist."),
        ("not_found", "security_group"): (404, "InvalidSecurityGroupId.NotFound",
                                          "The specified SecurityGroupId does not exist."),
        ("in_use", "vpc"): (400, "DependencyViolation", "Specified VPC still has resources in it."),
        ("in_use", "subnet"): (400, "DependencyViolation", "Specified VSwitch still has instances in it."),
        ("in_use", "security_group"): (403, "DependencyViolation",
                                       "There is still instance(s) in the specified security group."),
        ("cidr_invalid", "vpc"): (400, "InvalidCidrBlock.Malformed", "Specified CIDR block is not valid."),
        ("cidr_invalid", "subnet"): (400, "InvalidCidrBlock.Malformed", "Specified CIDR block is not valid."),
        "cidr_conflict": (400, "InvalidCidrBlock.Overlapped", "Specified CIDR block overlapped with other "
                                                              "VSwitch's CIDR block."),
        "no_capacity": (403, "OperationDenied.NoStock", "Sales of this resource are temporarily suspended in "
                                                        "the specified region; please try again later."),
        "quota": (403, "QuotaExceed.ElasticQuota", "The number of instances would exceed your quota."),
        "idempotent_mismatch": (400, "IdempotentParameterMismatch", "The specified parameter is different "
                                                                    "from the previous request with the same "
                                                                    "ClientToken."),
        "ip_exhausted": (403, "InvalidVSwitchId.IpNotEnough", "Specified VSwitch has not enough IpAddress."),
        "incorrect_status": (403, "IncorrectInstanceStatus", "The current status of the resource does not "
                                                             "support this operation."),
        ("mismatch", "zone"): (400, "InvalidVSwitchId.NotInZone", "The VSwitch is not in the specified zone."),
        ("mismatch", "security_group"): (400, "InvalidSecurityGroupId.NotInSameVpc",
                                         "The security group and the VSwitch are not in the same VPC."),
        "duplicate": (400, "InvalidParameter.Duplicate", "The resource already exists."),
        "dry_run": (400, "DryRunOperation", "Request validation has been passed with DryRun flag set."),
    }

    def __init__(self, sim):
        super().__init__(sim)
        self.handlers = {
            "ecs": {
                "RunInstances": self.run_instances, "DescribeInstances": self.describe_instances,
                "DeleteInstances": self.delete_instances, "DescribeRegions": self.describe_regions,
                "DescribeZones": self.describe_zones, "DescribeInstanceTypes": self.describe_instance_types,
                "DescribeAvailableResource": self.describe_available_resource,
                "DescribeImages": self.describe_images, "CreateSecurityGroup": self.create_security_group,
                "AuthorizeSecurityGroup": self.authorize_ingress,
                "AuthorizeSecurityGroupEgress": self.authorize_egress,
                "DescribeSecurityGroups": self.describe_security_groups,
                "DescribeSecurityGroupAttribute": self.describe_security_group_attribute,
                "DeleteSecurityGroup": self.delete_security_group,
            },
            "vpc": {
                "CreateVpc": self.create_vpc, "DescribeVpcs": self.describe_vpcs, "DeleteVpc": self.delete_vpc,
                "CreateVSwitch": self.create_vswitch, "DescribeVSwitches": self.describe_vswitches,
                "DeleteVSwitch": self.delete_vswitch, "DescribeRegions": self.describe_regions,
                "DescribeZones": self.describe_zones,
            },
        }

    # ---------------------------------------------------------------- wire
    def matches(self, request) -> bool:
        return "x-acs-action" in request.headers

    def parse(self, request) -> Call:
        params = dict(parse_qsl(request.query_string.decode("utf-8"), keep_blank_values=True))
        body = request.get_data(cache=True)
        if body and request.mimetype == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        match = _AUTH.match(request.headers.get("Authorization", ""))
        call = Call(request.headers["x-acs-action"], SERVICES.get(request.headers.get("x-acs-version", ""), ""),
                    params.get("RegionId", ""), match.group(1) if match else "", params, request,
                    self.cloud.request_id())
        if match:
            call.auth = {"signed": match.group(2), "signature": match.group(3).lower()}
        return call

    def verify(self, call: Call, secret: str) -> bool:
        """Recompute ACS3-HMAC-SHA256 the way alibabacloud_tea_openapi.utils.get_authorization does."""
        req = call.request
        body_hash = hashlib.sha256(req.get_data(cache=True)).hexdigest()
        if req.headers.get("x-acs-content-sha256", body_hash).lower() != body_hash:
            return False
        query = dict(parse_qsl(req.query_string.decode("utf-8"), keep_blank_values=True))
        canon_query = "&".join(f"{k}={quote(query[k], safe='~')}" for k in sorted(query))
        signed = call.auth["signed"]
        canon_headers = "".join(f"{h}:{req.headers.get(h, '').strip()}\n" for h in signed.split(";"))
        canonical = f"{req.method}\n{req.path or '/'}\n{canon_query}\n{canon_headers}\n{signed}\n{body_hash}"
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        expected = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, call.auth["signature"])

    def handler(self, call: Call):
        fn = self.handlers.get(call.service, {}).get(call.api)
        if fn is None:
            raise SimError("unknown_action", call.api)
        return fn

    def success(self, call: Call, result: dict) -> Response:
        return Response(json.dumps({"RequestId": call.request_id, **result}), status=200,
                        content_type="application/json;charset=utf-8")

    def failure(self, call, err, status, code, message) -> Response:
        request_id = call.request_id if call else self.cloud.request_id()
        service = call.service if call and call.service else "ecs"
        body = {"RequestId": request_id, "HostId": f"{service}.aliyuncs.com", "Code": code, "Message": message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product={service.upper()}"}
        response = Response(json.dumps(body), status=status, content_type="application/json;charset=utf-8")
        if err.kind == "throttled":
            response.headers["x-acs-retry-after"] = str(max(1, math.ceil((err.retry_after or 0.1) * 1000)))
        return response

    # ---------------------------------------------------------------- helpers
    def _region(self, call: Call) -> str:
        _need(call.params, "RegionId")
        self.cloud.check_region(PROVIDER, call.params["RegionId"])
        return call.params["RegionId"]

    @staticmethod
    def _paged(p: dict, items: list, max_size: int = 100) -> tuple[list, dict]:
        number = to_int(p.get("PageNumber"), "PageNumber", 1, 1)
        size = to_int(p.get("PageSize"), "PageSize", 10, 1, max_size)
        return page(items, (number - 1) * size, size), {"TotalCount": len(items), "PageNumber": number,
                                                         "PageSize": size}

    # ---------------------------------------------------------------- instances
    def run_instances(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "ImageId", "InstanceType")
        amount = to_int(p.get("Amount"), "Amount", 1, 1, 100, code="InvalidParameter.Amount")
        min_amount = to_int(p.get("MinAmount"), "MinAmount", None, 1, amount, code="InvalidParameter.MinAmount")
        groups = [p["SecurityGroupId"]] if p.get("SecurityGroupId") else _list(p, "SecurityGroupIds")
        if not groups:
            raise SimError("missing", "SecurityGroupId", "SecurityGroupId is mandatory for this action.",
                           code="MissingSecurityGroupId")
        _need(p, "VSwitchId")
        data_disks = [{"Category": d.get("Category", "cloud_efficiency"),
                       "Size": to_int(d.get("Size"), "DataDisk.Size")} for d in _structs(p, "DataDisk")]
        spec = LaunchSpec(
            zone=p.get("ZoneId") or None, instance_type=p["InstanceType"], image_id=p["ImageId"],
            subnet_id=p["VSwitchId"], security_group_ids=groups,
            tags={t.get("Key"): t.get("Value", "") for t in _structs(p, "Tag") if t.get("Key")},
            name=p.get("InstanceName", ""),
            bandwidth_out=to_int(p.get("InternetMaxBandwidthOut"), "InternetMaxBandwidthOut", 0, 0, 1024),
            charge_type=p.get("InstanceChargeType", "PostPaid"), client_token=p.get("ClientToken"),
            extra={"system_disk": {"Category": p.get("SystemDisk.Category", "cloud_efficiency"),
                                   "Size": to_int(p.get("SystemDisk.Size"), "SystemDisk.Size", 40)},
                   "data_disks": data_disks, "host_name": p.get("HostName", ""),
                   "internet_charge_type": p.get("InternetChargeType", "PayByTraffic"),
                   "spot_strategy": p.get("SpotStrategy", "NoSpot"), "spot_price_limit": p.get("SpotPriceLimit")})
        if _bool(p, "DryRun"):
            raise SimError("dry_run", "request")
        fingerprint = tuple(sorted((k, v) for k, v in p.items() if k != "ClientToken"))

        def create():
            made = self.cloud.run_instances(PROVIDER, region, spec, amount, min_amount)
            return [i.instance_id for i in made]

        ids = self.cloud.idempotent((PROVIDER, call.access_key, region, "RunInstances"), p.get("ClientToken"),
                                    fingerprint, create)
        return {"InstanceIdSets": {"InstanceIdSet": ids}, "OrderId": "", "TradePrice": 0.0}

    def _instance(self, i) -> dict:
        image = self.cloud.catalogue(PROVIDER).image(i.image_id)
        return {
            "InstanceId": i.instance_id, "InstanceName": i.name, "HostName": i.extra.get("host_name") or i.instance_id,
            "Description": "", "RegionId": i.region, "ZoneId": i.zone, "InstanceType": i.instance_type,
            "InstanceTypeFamily": i.instance_type.rsplit(".", 1)[0], "Cpu": i.cores,
            "Memory": int(i.memory_gb * 1024), "ImageId": i.image_id,
            "OSType": image.os_type if image else "linux", "OSName": image.os_name if image else "",
            "Status": _status(i), "CreationTime": _time(i.created_at),
            "StartTime": _time(i.ready_at) if i.status != PENDING else "",
            "ExpiredTime": "2099-12-31T15:59Z", "InstanceChargeType": i.charge_type,
            "InternetChargeType": i.extra.get("internet_charge_type", "PayByTraffic"),
            "InternetMaxBandwidthOut": i.bandwidth_out, "InternetMaxBandwidthIn": 200 if i.bandwidth_out else 0,
            "InstanceNetworkType": "vpc", "IoOptimized": True, "DeletionProtection": False,
            "SerialNumber": i.extra.get("serial", ""), "Recyclable": False, "SpotStrategy": i.extra.get("spot_strategy") or "NoSpot",
            "VpcAttributes": {"VpcId": i.vpc_id, "VSwitchId": i.subnet_id, "NatIpAddress": "",
                              "PrivateIpAddress": {"IpAddress": [i.ip_inner] if i.ip_inner else []}},
            "InnerIpAddress": {"IpAddress": []},
            "PublicIpAddress": {"IpAddress": [i.ip_outer] if i.ip_outer else []},
            "EipAddress": {"AllocationId": "", "IpAddress": "", "InternetChargeType": ""},
            "SecurityGroupIds": {"SecurityGroupId": list(i.security_group_ids)},
            "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in i.tags.items()]},
            "OperationLocks": {"LockReason": []},
        }

    def describe_instances(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = _json_list(p, "InstanceIds")
        tags = {t["Key"]: t.get("Value") for t in _structs(p, "Tag") if t.get("Key")}
        checks = [(attr, p[param]) for param, attr in (("VpcId", "vpc_id"), ("VSwitchId", "subnet_id"),
                  ("ZoneId", "zone"), ("InstanceType", "instance_type"), ("InstanceName", "name")) if p.get(param)]
        group, status = p.get("SecurityGroupId"), p.get("Status")

        def where(i) -> bool:
            return all(getattr(i, attr) == value for attr, value in checks) \
                and (not group or group in i.security_group_ids) \
                and (not status or _status(i) == status)

        query = dict(ids=set(ids) if ids is not None else None, tags=tags, where=where)
        if "NextToken" in p or "MaxResults" in p:
            size = to_int(p.get("MaxResults"), "MaxResults", 10, 1, 100)
            total, chunk, more = self.cloud.instance_page(PROVIDER, region, after_seq=token_seq(p.get("NextToken")),
                                                          limit=size, **query)
            meta = {"TotalCount": total, "NextToken": seq_token(chunk[-1].seq) if more else "", "PageSize": size}
        else:
            number = to_int(p.get("PageNumber"), "PageNumber", 1, 1)
            size = to_int(p.get("PageSize"), "PageSize", 10, 1, 100)
            total, chunk, _ = self.cloud.instance_page(PROVIDER, region, offset=(number - 1) * size, limit=size,
                                                       **query)
            meta = {"TotalCount": total, "PageNumber": number, "PageSize": size, "NextToken": ""}
        return {**meta, "Instances": {"Instance": [self._instance(i) for i in chunk]}}

    def delete_instances(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = _list(p, "InstanceId")
        if not ids:
            raise SimError("missing", "InstanceId", "InstanceId is mandatory for this action.",
                           code="MissingInstanceId")
        if len(ids) > 100:
            raise SimError("invalid", "InstanceId", "At most 100 instances per call.",
                           code="InvalidParameter.InstanceIdsTooMany")
        force = _bool(p, "Force")

        def delete():
            live = {i.instance_id: i for i in self.cloud.instances(PROVIDER, region, ids=set(ids))}
            gone = [i for i in ids if i not in live]
            if gone:
                raise SimError("not_found", "instance", f"The specified InstanceId does not exist: {','.join(gone)}")
            if not force and any(_status(live[i]) != "Stopped" for i in ids):  # only Stopped ones go without Force
                raise SimError("incorrect_status", "instance", "The instance must be Stopped, or pass Force=true.")
            if _bool(p, "DryRun"):
                raise SimError("dry_run", "request")
            self.cloud.delete_instances(PROVIDER, ids)
            return True

        fingerprint = tuple(sorted((k, v) for k, v in p.items() if k != "ClientToken"))
        self.cloud.idempotent((PROVIDER, call.access_key, region, "DeleteInstances"), p.get("ClientToken"),
                              fingerprint, delete)
        return {}

    # ---------------------------------------------------------------- catalogue
    def describe_regions(self, call: Call) -> dict:
        host = "ecs" if call.service == "ecs" else "vpc"
        return {"Regions": {"Region": [
            {"RegionId": r.region_id, "LocalName": r.name, "RegionEndpoint": f"{host}.{r.region_id}.aliyuncs.com",
             "Status": "available"} for r in self.cloud.catalogue(PROVIDER).regions]}}

    def describe_zones(self, call: Call) -> dict:
        region = self._region(call)
        cat = self.cloud.catalogue(PROVIDER)
        zones = []
        for z in cat.region(region).zones:
            types = [t.name for t in cat.instance_types if self.cloud.stock_left(PROVIDER, z.zone_id, t.name) > 0]
            zones.append({"ZoneId": z.zone_id, "LocalName": z.name, "ZoneType": "AvailabilityZone",
                          "AvailableInstanceTypes": {"InstanceTypes": types},
                          "AvailableResourceCreation": {"ResourceTypes": ["VSwitch", "IoOptimized", "Instance",
                                                                          "Disk", "DedicatedHost"]},
                          "AvailableDiskCategories": {"DiskCategories": ["cloud_essd", "cloud_efficiency",
                                                                         "cloud_ssd"]}})
        return {"Zones": {"Zone": zones}}

    def describe_instance_types(self, call: Call) -> dict:
        p = call.params
        types = list(self.cloud.catalogue(PROVIDER).instance_types)
        wanted = _list(p, "InstanceTypes")
        if wanted:
            types = [t for t in types if t.name in wanted]
        if p.get("InstanceTypeFamily"):
            types = [t for t in types if t.family == p["InstanceTypeFamily"]]
        size = to_int(p.get("MaxResults"), "MaxResults", 1600, 1, 1600)
        start = to_int(p.get("NextToken") or None, "NextToken", 0, 0)
        chunk = types[start:start + size]
        token = str(start + size) if start + size < len(types) else ""
        return {"NextToken": token, "InstanceTypes": {"InstanceType": [
            {"InstanceTypeId": t.name, "InstanceTypeFamily": t.family, "CpuCoreCount": t.cores,
             "MemorySize": float(t.memory_gb), "CpuArchitecture": "X86", "GPUAmount": 0, "GPUSpec": "",
             "InstanceCategory": "General-purpose", "EniQuantity": 3} for t in chunk]}}

    def describe_available_resource(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "DestinationResource")
        cat = self.cloud.catalogue(PROVIDER)
        zones = [z for z in cat.region(region).zones if not p.get("ZoneId") or z.zone_id == p["ZoneId"]]
        out = []
        for z in zones:
            types = [t for t in cat.instance_types if not p.get("InstanceType") or t.name == p["InstanceType"]]
            supported = []
            for t in types:
                stock = self.cloud.stock_left(PROVIDER, z.zone_id, t.name) > 0
                supported.append({"Value": t.name, "Status": "Available" if stock else "SoldOut",
                                  "StatusCategory": "WithStock" if stock else "WithoutStock"})
            resources = []
            if p["DestinationResource"] == "InstanceType":
                resources = [{"Type": "InstanceType", "SupportedResources": {"SupportedResource": supported}}]
            any_stock = any(s["Status"] == "Available" for s in supported)
            out.append({"ZoneId": z.zone_id, "RegionId": region, "Status": "Available" if any_stock else "SoldOut",
                        "StatusCategory": "WithStock" if any_stock else "WithoutStock",
                        "AvailableResources": {"AvailableResource": resources}})
        return {"AvailableZones": {"AvailableZone": out}}

    def describe_images(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        images = list(self.cloud.catalogue(PROVIDER).images)
        if p.get("ImageId"):
            wanted = p["ImageId"].split(",")
            images = [i for i in images if i.image_id in wanted]
        if p.get("OSType"):
            images = [i for i in images if i.os_type == p["OSType"]]
        if p.get("ImageName"):
            images = [i for i in images if p["ImageName"].replace("*", "") in i.name]
        chunk, meta = self._paged(p, images)
        return {**meta, "RegionId": region, "Images": {"Image": [
            {"ImageId": i.image_id, "ImageName": i.name, "OSType": i.os_type, "OSName": i.os_name,
             "OSNameEn": i.os_name, "Platform": i.platform, "Architecture": i.arch, "Status": "Available",
             "ImageOwnerAlias": "system", "IsPublic": True, "Size": i.size_gb, "Usage": "instance",
             "CreationTime": "2021-10-30T02:25:00Z", "Progress": "100%"} for i in chunk]}}

    # ---------------------------------------------------------------- security groups
    def create_security_group(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        fingerprint = tuple(sorted((k, v) for k, v in p.items() if k != "ClientToken"))

        def create():
            return self.cloud.create_security_group(
                PROVIDER, region, p.get("VpcId") or None, p.get("SecurityGroupName", ""), p.get("Description", ""),
                p.get("SecurityGroupType", "normal"),
                {t["Key"]: t.get("Value", "") for t in _structs(p, "Tag") if t.get("Key")}).group_id

        gid = self.cloud.idempotent((PROVIDER, call.access_key, region, "CreateSecurityGroup"),
                                    p.get("ClientToken"), fingerprint, create)
        return {"SecurityGroupId": gid}

    @staticmethod
    def _rule(d: dict, direction: str) -> SimRule:
        proto = (d.get("IpProtocol") or "").lower()
        if proto not in ("tcp", "udp", "icmp", "gre", "all", "icmpv6"):
            raise SimError("missing" if not proto else "invalid", "IpProtocol",
                           "IpProtocol must be tcp, udp, icmp, gre or all.",
                           code="MissingIpProtocol" if not proto else "InvalidIpProtocol.Malformed")
        ports = d.get("PortRange") or ""
        try:
            low, high = (int(x) for x in ports.split("/"))
        except ValueError:
            raise SimError("invalid", "PortRange", "PortRange must look like 22/22 or -1/-1.",
                           code="InvalidPortRange.Malformed") from None
        peer = "Source" if direction == "ingress" else "Dest"
        return SimRule(direction, proto, low, high, d.get(f"{peer}CidrIp") or None, d.get(f"{peer}GroupId") or None,
                       (d.get("Policy") or "accept").lower(), to_int(d.get("Priority"), "Priority", 1, 1, 100),
                       d.get("Description", ""))

    def _authorize(self, call: Call, direction: str) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "SecurityGroupId")
        rules = [self._rule(d, direction) for d in _structs(p, "Permissions")]
        if not rules:
            rules = [self._rule(p, direction)]
        self.cloud.add_rules(PROVIDER, region, p["SecurityGroupId"], rules)
        return {}

    def authorize_ingress(self, call: Call) -> dict:
        return self._authorize(call, "ingress")

    def authorize_egress(self, call: Call) -> dict:
        return self._authorize(call, "egress")

    def describe_security_groups(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = _json_list(p, "SecurityGroupIds")
        if p.get("SecurityGroupId"):
            ids = (ids or []) + [p["SecurityGroupId"]]
        groups = self.cloud.security_groups(PROVIDER, region, p.get("VpcId") or None,
                                            set(ids) if ids is not None else None)
        if p.get("SecurityGroupName"):
            groups = [g for g in groups if g.name == p["SecurityGroupName"]]
        if "NextToken" in p or "MaxResults" in p:
            size = to_int(p.get("MaxResults"), "MaxResults", 10, 1, 100)
            start = to_int(p.get("NextToken") or None, "NextToken", 0, 0)
            chunk, meta = groups[start:start + size], {
                "NextToken": str(start + size) if start + size < len(groups) else ""}
        else:
            chunk, meta = self._paged(p, groups, 50)
        return {**meta, "RegionId": region, "SecurityGroups": {"SecurityGroup": [
            {"SecurityGroupId": g.group_id, "SecurityGroupName": g.name, "Description": g.description,
             "VpcId": g.vpc_id or "", "SecurityGroupType": g.group_type, "CreationTime": iso(g.created_at),
             "RuleCount": len(g.rules), "ServiceManaged": False,
             "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in g.tags.items()]}} for g in chunk]}}

    def describe_security_group_attribute(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "SecurityGroupId")
        found = self.cloud.security_groups(PROVIDER, region, ids={p["SecurityGroupId"]})
        if not found:
            raise SimError("not_found", "security_group")
        g = found[0]
        direction = p.get("Direction", "all")
        perms = []
        for r in g.rules:
            if direction not in ("all", r.direction):
                continue
            ingress = r.direction == "ingress"
            perms.append({
                "Direction": r.direction, "IpProtocol": r.protocol.upper(), "PortRange": f"{r.from_port}/{r.to_port}",
                "SourceCidrIp": (r.cidr or "") if ingress else "",
                "SourceGroupId": (r.group_id or "") if ingress else "",
                "DestCidrIp": "" if ingress else (r.cidr or ""), "DestGroupId": "" if ingress else (r.group_id or ""),
                "Policy": r.policy.capitalize(), "Priority": str(r.priority), "Description": r.description,
                "NicType": "intranet", "CreateTime": iso(r.created_at), "SecurityGroupRuleId": r.rule_id})
        return {"SecurityGroupId": g.group_id, "SecurityGroupName": g.name, "VpcId": g.vpc_id or "",
                "Description": g.description, "RegionId": region, "InnerAccessPolicy": "Accept",
                "Permissions": {"Permission": perms}}

    def delete_security_group(self, call: Call) -> dict:
        region = self._region(call)
        _need(call.params, "SecurityGroupId")
        self.cloud.delete_security_group(PROVIDER, region, call.params["SecurityGroupId"])
        return {}

    # ---------------------------------------------------------------- VPC service
    def create_vpc(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        fingerprint = tuple(sorted((k, v) for k, v in p.items() if k != "ClientToken"))

        def create():
            return self.cloud.create_vpc(PROVIDER, region, p.get("CidrBlock") or "172.16.0.0/12", p.get("VpcName", ""),
                                         p.get("Description", "")).vpc_id

        vpc_id = self.cloud.idempotent((PROVIDER, call.access_key, region, "CreateVpc"), p.get("ClientToken"),
                                       fingerprint, create)
        suffix = vpc_id.split("-", 1)[1]
        return {"VpcId": vpc_id, "VRouterId": f"vrt-{suffix}", "RouteTableId": f"vtb-{suffix}",
                "ResourceGroupId": "rg-acfmsim"}

    def describe_vpcs(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = set(p["VpcId"].split(",")) if p.get("VpcId") else None
        vpcs = self.cloud.vpcs(PROVIDER, region, ids)
        if p.get("VpcName"):
            vpcs = [v for v in vpcs if v.name == p["VpcName"]]
        if p.get("IsDefault"):
            vpcs = [v for v in vpcs if v.is_default == _bool(p, "IsDefault")]
        chunk, meta = self._paged(p, vpcs, 50)
        subnets = self.cloud.subnets(PROVIDER, region)
        return {**meta, "Vpcs": {"Vpc": [
            {"VpcId": v.vpc_id, "RegionId": v.region, "Status": "Available", "VpcName": v.name,
             "CidrBlock": v.cidr, "CreationTime": iso(v.created_at), "Description": v.description,
             "IsDefault": v.is_default, "VRouterId": "vrt-" + v.vpc_id.split("-", 1)[1],
             "VSwitchIds": {"VSwitchId": [s.subnet_id for s in subnets if s.vpc_id == v.vpc_id]},
             "Tags": {"Tag": [{"Key": k, "Value": val} for k, val in v.tags.items()]}} for v in chunk]}}

    def delete_vpc(self, call: Call) -> dict:
        region = self._region(call)
        _need(call.params, "VpcId")
        self.cloud.delete_vpc(PROVIDER, region, call.params["VpcId"])
        return {}

    def create_vswitch(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "VpcId", "ZoneId", "CidrBlock")
        fingerprint = tuple(sorted((k, v) for k, v in p.items() if k != "ClientToken"))

        def create():
            return self.cloud.create_subnet(PROVIDER, region, p["VpcId"], p["ZoneId"], p["CidrBlock"],
                                            p.get("VSwitchName", "")).subnet_id

        return {"VSwitchId": self.cloud.idempotent((PROVIDER, call.access_key, region, "CreateVSwitch"),
                                                   p.get("ClientToken"), fingerprint, create)}

    def describe_vswitches(self, call: Call) -> dict:
        p = call.params
        region = p.get("RegionId") or None
        if region:
            self.cloud.check_region(PROVIDER, region)
        ids = set(p["VSwitchId"].split(",")) if p.get("VSwitchId") else None
        subnets = self.cloud.subnets(PROVIDER, region, p.get("VpcId") or None, ids)
        if p.get("ZoneId"):
            subnets = [s for s in subnets if s.zone == p["ZoneId"]]
        if p.get("VSwitchName"):
            subnets = [s for s in subnets if s.name == p["VSwitchName"]]
        chunk, meta = self._paged(p, subnets, 50)
        return {**meta, "VSwitches": {"VSwitch": [
            {"VSwitchId": s.subnet_id, "VpcId": s.vpc_id, "Status": "Available", "CidrBlock": s.cidr,
             "ZoneId": s.zone, "AvailableIpAddressCount": s.available_ips, "Description": "",
             "VSwitchName": s.name, "CreationTime": iso(s.created_at), "IsDefault": False,
             "Tags": {"Tag": [{"Key": k, "Value": v} for k, v in s.tags.items()]}} for s in chunk]}}

    def delete_vswitch(self, call: Call) -> dict:
        _need(call.params, "VSwitchId")
        self.cloud.delete_subnet(PROVIDER, call.params.get("RegionId") or None, call.params["VSwitchId"])
        return {}

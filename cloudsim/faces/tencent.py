"""TencentCloud CVM (2017-03-12) and VPC (2017-03-12) JSON face.

Wire format (tencentcloud-sdk-python-common): POST /, JSON body, X-TC-Action / X-TC-Version /
X-TC-Region headers, TC3-HMAC-SHA256 signature whose credential scope names the service (cvm or
vpc). Every answer is HTTP 200 with Content-Type exactly "application/json" (with a charset the SDK
silently ignores errors) and {"Response": {..., "RequestId"}} or {"Response": {"Error": {Code,
Message}, "RequestId"}}.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from datetime import datetime, timedelta, timezone

from werkzeug.wrappers import Response

from ..model import PENDING, STOPPED, LaunchSpec, SimError, SimRule
from .base import Call, Face, iso, page, to_int

PROVIDER = "TencentCloud"
_AUTH = re.compile(r"TC3-HMAC-SHA256\s+Credential=([^/]*)/(\d{4}-\d{2}-\d{2})/([^/]+)/tc3_request,\s*"
                   r"SignedHeaders=([^,]+),\s*Signature=([0-9a-fA-F]+)")
_INSTANCE_ID = re.compile(r"^ins-[a-z0-9]{8}$")
_BEIJING = timezone(timedelta(hours=8))


def _state(i) -> str:
    return {PENDING: "PENDING", STOPPED: "STOPPED"}.get(i.status, "RUNNING")


def _beijing(ts) -> str:
    """The VPC API's timestamps: "YYYY-MM-DD HH:MM:SS" without an offset, in Beijing time (UTC+8)."""
    return datetime.fromtimestamp(ts, _BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _tc3_sign(secret: str, date: str, service: str, to_sign: str) -> str:
    def mac(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256)
    key = mac(mac(mac(("TC3" + secret).encode("utf-8"), date).digest(), service).digest(), "tc3_request").digest()
    return mac(key, to_sign).hexdigest()


def _need(p: dict, *names: str) -> None:
    for name in names:
        if p.get(name) in (None, "", []):
            raise SimError("missing", name, f"The request is missing a required parameter `{name}`.")


def _tags(items) -> dict:
    return {t["Key"]: t.get("Value", "") for t in items or [] if t.get("Key")}


def _paging(p: dict, default: int = 20) -> tuple[int, int]:
    # the VPC API declares Offset/Limit as strings, CVM as integers: accept both
    offset = to_int(p.get("Offset"), "Offset", 0, 0, code="InvalidParameterValue.Range")
    limit = to_int(p.get("Limit"), "Limit", default, 1, 100, code="InvalidParameterValue.LimitExceeded")
    return offset, limit


def _predicate(filters, getters: dict):
    """Tencent Filters: values OR-ed within a filter, filters AND-ed; `tag:KEY` matches a tag value."""
    tests = []
    for f in filters or []:
        name, values = f.get("Name", ""), {str(v) for v in f.get("Values") or []}
        if name.startswith("tag:"):
            tests.append(lambda i, key=name[4:], values=values: i.tags.get(key) in values if key in i.tags else False)
        elif name == "tag-key":
            tests.append(lambda i, values=values: any(k in values for k in i.tags))
        elif name == "tag-value":
            tests.append(lambda i, values=values: any(v in values for v in i.tags.values()))
        elif name in getters:
            tests.append(lambda i, get=getters[name], values=values: str(get(i)) in values)
        else:
            raise SimError("invalid", "Filters", f"The filter `{name}` is not supported.", code="InvalidFilter")
    return lambda item: all(test(item) for test in tests)


def _filtered(items: list, filters, getters: dict) -> list:
    keep = _predicate(filters, getters)
    return [i for i in items if keep(i)]


def _port(text) -> tuple[int, int]:
    text = str(text or "ALL").upper()
    if text == "ALL":
        return -1, -1
    try:
        low, _, high = text.partition("-")
        return int(low), int(high or low)
    except ValueError:
        raise SimError("invalid", "Port", f"Invalid port `{text}`.", code="InvalidParameterValue.Malformed") from None


class TencentFace(Face):
    provider = PROVIDER
    ops = {"RunInstances": "create", "DescribeInstances": "describe", "DescribeInstancesStatus": "describe",
           "TerminateInstances": "delete"}
    codes = {
        "auth_missing": (200, "AuthFailure.InvalidAuthorization", "The Authorization header is missing or malformed."),
        "auth_key": (200, "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your "
                                                          "SecretId is correct."),
        "auth_signature": (200, "AuthFailure.SignatureFailure", "The provided credentials could not be validated. "
                                                                "Please check your signature is correct."),
        "throttled": (200, "RequestLimitExceeded", "Your current request times exceeds the frequency limit. "
                                                   "Please reduce the frequency of calls."),
        "internal": (200, "InternalError", "An internal error has occurred. Retry your request, but if the problem "
                                           "persists, contact us."),
        "unknown_action": (200, "InvalidAction", "The requested action is not valid."),
        "missing": (200, "MissingParameter", ""),
        "invalid": (200, "InvalidParameterValue", ""),
        ("not_found", "region"): (200, "UnsupportedRegion", "The region is not supported."),
        ("not_found", "zone"): (200, "InvalidZone.MismatchRegion", "The specified zone does not exist."),
        ("not_found", "instance"): (200, "InvalidInstanceId.NotFound", "The instance does not exist."),
        ("not_found", "image"): (200, "InvalidImageId.NotFound", "The image does not exist."),
        ("not_found", "instance_type"): (200, "InvalidInstanceType.Malformed", "The instance type is not offered."),
        ("RunInstances", "not_found", "subnet"): (200, "InvalidParameterValue.SubnetNotExist",
                                                  "The subnet does not exist."),
        ("RunInstances", "not_found", "security_group"): (200, "InvalidSecurityGroupId.NotFound",
                                                          "The security group does not exist."),
        "not_found": (200, "ResourceNotFound", "The resource does not exist."),
        "in_use": (200, "ResourceInUse", "The resource is in use."),
        ("cidr_invalid", "vpc"): (200, "InvalidParameterValue.Malformed", "The CIDR block is not valid."),
        ("cidr_invalid", "subnet"): (200, "InvalidParameterValue.SubnetRange", "The subnet CIDR is not valid."),
        "cidr_conflict": (200, "InvalidParameterValue.SubnetConflict", "The subnet CIDR conflicts with another."),
        "no_capacity": (200, "ResourceInsufficient.SpecifiedInstanceType",
                        "The specified instance type is out of stock."),
        "quota": (200, "LimitExceeded.InstanceQuota", "The number of instances exceeds the quota."),
        "ip_exhausted": (200, "ResourceInsufficient.SubnetIpInsufficient", "The subnet has no free IP addresses."),
        "mismatch": (200, "InvalidParameterValue", "The parameters do not belong together."),
        "duplicate": (200, "InvalidParameterValue.Duplicate", "The resource already exists."),
        "dry_run": (200, "DryRunOperation", "The request would have succeeded, but DryRun was set."),
    }

    def __init__(self, sim):
        super().__init__(sim)
        self.handlers = {
            "cvm": {
                "RunInstances": self.run_instances, "DescribeInstances": self.describe_instances,
                "TerminateInstances": self.terminate_instances, "InquiryPriceRunInstances": self.inquiry_price,
                "DescribeRegions": self.describe_regions,
                "DescribeZones": self.describe_zones, "DescribeInstanceTypeConfigs": self.describe_type_configs,
                "DescribeImages": self.describe_images,
            },
            "vpc": {
                "CreateVpc": self.create_vpc, "DescribeVpcs": self.describe_vpcs, "DeleteVpc": self.delete_vpc,
                "CreateSubnet": self.create_subnet, "DescribeSubnets": self.describe_subnets,
                "DeleteSubnet": self.delete_subnet, "CreateSecurityGroup": self.create_security_group,
                "CreateSecurityGroupPolicies": self.create_policies,
                "DescribeSecurityGroups": self.describe_security_groups,
                "DescribeSecurityGroupPolicies": self.describe_policies,
                "DeleteSecurityGroup": self.delete_security_group,
            },
        }

    # ---------------------------------------------------------------- wire
    def matches(self, request) -> bool:
        return "X-TC-Action" in request.headers

    def parse(self, request) -> Call:
        action = request.headers["X-TC-Action"]
        match = _AUTH.match(request.headers.get("Authorization", ""))
        service = match.group(3) if match else ("vpc" if action in self.handlers["vpc"] else "cvm")
        call = Call(action, service, request.headers.get("X-TC-Region", ""), match.group(1) if match else "", {},
                    request, str(uuid.UUID(self.cloud.request_id())))
        if match:
            call.auth = {"date": match.group(2), "signed": match.group(4), "signature": match.group(5).lower()}
        try:
            params = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError:
            raise SimError("invalid", "body", "The request body is not valid JSON.", code="InvalidParameter") from None
        call.params = params if isinstance(params, dict) else {}
        return call

    def verify(self, call: Call, secret: str) -> bool:
        """Recompute TC3-HMAC-SHA256 as tencentcloud.common.abstract_client._get_tc3_signature does."""
        req = call.request
        timestamp = req.headers.get("X-TC-Timestamp", "")
        try:
            date = datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%d")
        except ValueError:
            return False
        if date != call.auth["date"]:
            return False
        body = req.get_data(cache=True)
        payload = b"UNSIGNED-PAYLOAD" if req.headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD" else body
        signed = call.auth["signed"]
        headers = "".join(f"{h}:{req.headers.get(h, '')}\n" for h in signed.split(";"))
        query = req.query_string.decode("utf-8") if req.method == "GET" else ""
        canonical = f"{req.method}\n{req.path or '/'}\n{query}\n{headers}\n{signed}\n" \
                    f"{hashlib.sha256(payload).hexdigest()}"
        scope = f"{date}/{call.service}/tc3_request"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        return hmac.compare_digest(_tc3_sign(secret, date, call.service, to_sign), call.auth["signature"])

    def handler(self, call: Call):
        fn = self.handlers.get(call.service, {}).get(call.api)
        if fn is None:
            raise SimError("unknown_action", call.api, f"The requested action `{call.api}` is not valid.")
        return fn

    def _json(self, body: dict) -> Response:
        # exactly "application/json": the SDK only looks for errors under that content type
        response = Response(json.dumps({"Response": body}), status=200)
        response.headers["Content-Type"] = "application/json"
        return response

    def success(self, call: Call, result: dict) -> Response:
        return self._json({**result, "RequestId": call.request_id})

    def failure(self, call, err, status, code, message) -> Response:
        request_id = call.request_id if call else str(uuid.UUID(self.cloud.request_id()))
        return self._json({"Error": {"Code": code, "Message": message}, "RequestId": request_id})

    def _region(self, call: Call) -> str:
        self.cloud.check_region(PROVIDER, call.region)
        return call.region

    # ---------------------------------------------------------------- CVM
    def run_instances(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        placement = p.get("Placement") or {}
        if not placement.get("Zone"):
            raise SimError("missing", "Placement.Zone", "The request is missing a required parameter `Placement.Zone`.")
        _need(p, "InstanceType", "ImageId", "VirtualPrivateCloud")
        vpc = p["VirtualPrivateCloud"]
        _need(vpc, "VpcId", "SubnetId")
        count = to_int(p.get("InstanceCount"), "InstanceCount", 1, 1, 500, code="InvalidParameterValue.Range")
        internet = p.get("InternetAccessible") or {}
        bandwidth = to_int(internet.get("InternetMaxBandwidthOut"), "InternetMaxBandwidthOut", 0, 0, 1024)
        tags = {}
        for spec in p.get("TagSpecification") or []:
            if spec.get("ResourceType", "instance") == "instance":
                tags.update(_tags(spec.get("Tags")))
        subnet = self.cloud.subnets(PROVIDER, region, ids={vpc["SubnetId"]})
        if subnet and subnet[0].vpc_id != vpc["VpcId"]:
            raise SimError("mismatch", "subnet", "The subnet does not belong to the VPC.",
                           code="InvalidParameterValue.VpcIdNotMatch")
        charge = p.get("InstanceChargeType", "POSTPAID_BY_HOUR")
        spot = (p.get("InstanceMarketOptions") or {}).get("SpotOptions") or {}
        if charge == "SPOTPAID" and not spot.get("MaxPrice"):  # required for spot, as the API documents
            raise SimError("missing", "InstanceMarketOptions.SpotOptions.MaxPrice", "The request is missing a "
                           "required parameter `InstanceMarketOptions.SpotOptions.MaxPrice`.")
        launch = LaunchSpec(
            zone=placement["Zone"], instance_type=p["InstanceType"], image_id=p["ImageId"], subnet_id=vpc["SubnetId"],
            security_group_ids=list(p.get("SecurityGroupIds") or []), tags=tags, name=p.get("InstanceName", ""),
            bandwidth_out=bandwidth, public_ip=internet.get("PublicIpAssigned"),
            charge_type=charge, client_token=p.get("ClientToken"),
            extra={"system_disk": p.get("SystemDisk") or {"DiskType": "CLOUD_BSSD", "DiskSize": 50},
                   "data_disks": p.get("DataDisks") or [],
                   "internet_charge_type": internet.get("InternetChargeType", "TRAFFIC_POSTPAID_BY_HOUR"),
                   "request_id": call.request_id, "spot_strategy": charge if charge == "SPOTPAID" else "NoSpot",
                   "spot_price_limit": spot.get("MaxPrice") if charge == "SPOTPAID" else None})
        if p.get("DryRun"):
            raise SimError("dry_run", "request")

        def create():
            try:
                return [i.instance_id for i in self.cloud.run_instances(PROVIDER, region, launch, count)]
            except SimError as err:
                if err.kind == "no_capacity" and not err.detail.get("available"):
                    err.code = "ResourcesSoldOut.SpecifiedInstanceType"
                raise

        # Tencent does not document a mismatch error: a reused token returns the first answer
        ids = self.cloud.idempotent((PROVIDER, call.access_key, region, "RunInstances"), p.get("ClientToken"),
                                    None, create)
        return {"InstanceIdSet": ids}

    def inquiry_price(self, call: Call) -> dict:
        """InquiryPriceRunInstances: a synthetic hourly price (no real tariff), per machine."""
        p = call.params
        self._region(call)
        _need(p, "ImageId")
        itype = self.cloud.catalogue(PROVIDER).instance_type(p.get("InstanceType", ""))
        if itype is None:
            raise SimError("not_found", "instance_type", f"The instance type `{p.get('InstanceType')}` is not offered.")
        count = to_int(p.get("InstanceCount"), "InstanceCount", 1, 1, 500)
        unit = round((0.08 * itype.cores + 0.02 * itype.memory_gb) * count, 4)
        return {"Price": {"InstancePrice": {"UnitPrice": unit, "ChargeUnit": "HOUR", "UnitPriceDiscount": unit,
                                            "Discount": 100.0},
                          "BandwidthPrice": {"UnitPrice": 0.0, "ChargeUnit": "HOUR", "UnitPriceDiscount": 0.0,
                                             "Discount": 100.0}}}

    def _instance(self, i) -> dict:
        image = self.cloud.catalogue(PROVIDER).image(i.image_id)
        pending = i.status == PENDING
        return {
            "Placement": {"Zone": i.zone, "ProjectId": 0, "HostId": None}, "InstanceId": i.instance_id,
            "InstanceType": i.instance_type, "CPU": i.cores, "Memory": int(i.memory_gb), "RestrictState": "NORMAL",
            "InstanceName": i.name if i.name != i.instance_id else "未命名", "InstanceChargeType": i.charge_type,
            "SystemDisk": {"DiskId": "disk-" + i.instance_id[4:], **i.extra.get("system_disk", {})},
            "DataDisks": i.extra.get("data_disks") or None,
            "PrivateIpAddresses": [i.ip_inner] if i.ip_inner else None,
            "PublicIpAddresses": [i.ip_outer] if i.ip_outer else None,
            "InternetAccessible": {"InternetChargeType": i.extra.get("internet_charge_type"),
                                   "InternetMaxBandwidthOut": i.bandwidth_out,
                                   "PublicIpAssigned": bool(i.ip_outer)},
            "VirtualPrivateCloud": {"VpcId": i.vpc_id, "SubnetId": i.subnet_id, "AsVpcGateway": False},
            "ImageId": i.image_id, "RenewFlag": None, "CreatedTime": iso(i.created_at), "ExpiredTime": None,
            "OsName": image.os_name if image else "", "SecurityGroupIds": list(i.security_group_ids),
            "LoginSettings": {"Password": None, "KeyIds": None, "KeepImageLogin": None},
            "InstanceState": _state(i),
            "Tags": [{"Key": k, "Value": v} for k, v in i.tags.items()],
            "StopChargingMode": "NOT_APPLICABLE", "Uuid": str(uuid.uuid5(uuid.NAMESPACE_OID, i.instance_id)),
            "LatestOperation": "RunInstances", "LatestOperationState": "OPERATING" if pending else "SUCCESS",
            "LatestOperationRequestId": i.extra.get("request_id", ""), "DisasterRecoverGroupId": "",
            "IPv6Addresses": None, "CamRoleName": "", "HpcClusterId": "", "RdmaIpAddresses": None,
            "IsolatedSource": "NOTISOLATED", "DisableApiTermination": False, "DefaultLoginUser": "root",
            "DefaultLoginPort": 22,
        }

    def _check_ids(self, ids) -> None:
        if len(ids) > 100:
            raise SimError("invalid", "InstanceIds", "At most 100 instance ids per call.",
                           code="InvalidParameterValue.LimitExceeded")
        bad = [i for i in ids if not _INSTANCE_ID.match(str(i))]
        if bad:
            raise SimError("invalid", "InstanceIds", f"Malformed instance id(s): {bad}",
                           code="InvalidInstanceId.Malformed")

    def describe_instances(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids, filters = p.get("InstanceIds"), p.get("Filters")
        if ids and filters:
            raise SimError("invalid", "InstanceIds", "InstanceIds and Filters cannot be used together.",
                           code="InvalidParameter")
        if ids:
            self._check_ids(ids)
        offset, limit = _paging(p)
        where = _predicate(filters, {
            "zone": lambda i: i.zone, "instance-id": lambda i: i.instance_id, "instance-name": lambda i: i.name,
            "instance-type": lambda i: i.instance_type, "vpc-id": lambda i: i.vpc_id,
            "subnet-id": lambda i: i.subnet_id, "private-ip-address": lambda i: i.ip_inner,
            "public-ip-address": lambda i: i.ip_outer, "instance-charge-type": lambda i: i.charge_type,
            "instance-state": _state})
        total, chunk, _ = self.cloud.instance_page(PROVIDER, region, ids=set(ids) if ids else None, where=where,
                                                   offset=offset, limit=limit)
        return {"TotalCount": total, "InstanceSet": [self._instance(i) for i in chunk]}

    def terminate_instances(self, call: Call) -> dict:
        region = self._region(call)
        ids = call.params.get("InstanceIds") or []
        _need(call.params, "InstanceIds")
        self._check_ids(ids)
        live = {i.instance_id for i in self.cloud.instances(PROVIDER, region, ids=set(ids))}
        gone = [i for i in ids if i not in live]
        if gone:
            raise SimError("not_found", "instance", f"The instance(s) {gone} do not exist.")
        if call.params.get("DryRun"):
            raise SimError("dry_run", "request")
        self.cloud.delete_instances(PROVIDER, ids)
        return {}

    def describe_regions(self, call: Call) -> dict:
        regions = self.cloud.catalogue(PROVIDER).regions
        return {"TotalCount": len(regions), "RegionSet": [
            {"Region": r.region_id, "RegionName": r.name, "RegionState": "AVAILABLE"} for r in regions]}

    def describe_zones(self, call: Call) -> dict:
        region = self._region(call)
        zones = self.cloud.catalogue(PROVIDER).region(region).zones
        return {"TotalCount": len(zones), "ZoneSet": [
            {"Zone": z.zone_id, "ZoneName": z.name, "ZoneId": z.number, "ZoneState": "AVAILABLE"} for z in zones]}

    def describe_type_configs(self, call: Call) -> dict:
        region = self._region(call)
        cat = self.cloud.catalogue(PROVIDER)
        rows = [(z, t) for z in cat.region(region).zones for t in cat.instance_types]
        getters = {"zone": lambda r: r[0].zone_id, "instance-family": lambda r: r[1].family,
                   "instance-type": lambda r: r[1].name}
        for f in call.params.get("Filters") or []:
            if f.get("Name") not in getters:
                raise SimError("invalid", "Filters", f"The filter `{f.get('Name')}` is not supported.",
                               code="InvalidFilter")
            rows = [r for r in rows if getters[f["Name"]](r) in (f.get("Values") or [])]
        return {"InstanceTypeConfigSet": [
            {"Zone": z.zone_id, "InstanceType": t.name, "InstanceFamily": t.family, "GPU": 0, "CPU": t.cores,
             "Memory": int(t.memory_gb), "FPGA": 0, "GpuCount": 0} for z, t in rows]}

    def describe_images(self, call: Call) -> dict:
        p = call.params
        self._region(call)
        images = list(self.cloud.catalogue(PROVIDER).images)
        if p.get("ImageIds"):
            images = [i for i in images if i.image_id in p["ImageIds"]]
        getters = {"image-id": lambda i: i.image_id, "image-type": lambda i: "PUBLIC_IMAGE",
                   "platform": lambda i: i.platform, "image-name": lambda i: i.name}
        for f in p.get("Filters") or []:
            if f.get("Name") not in getters:
                raise SimError("invalid", "Filters", f"The filter `{f.get('Name')}` is not supported.",
                               code="InvalidFilter")
            images = [i for i in images if getters[f["Name"]](i) in (f.get("Values") or [])]
        offset, limit = _paging(p)
        return {"TotalCount": len(images), "ImageSet": [
            {"ImageId": i.image_id, "OsName": i.os_name, "ImageType": "PUBLIC_IMAGE",
             "CreatedTime": "2021-10-30T02:25:00Z", "ImageName": i.name, "ImageDescription": i.name,
             "ImageSize": i.size_gb, "Architecture": "x86_64", "ImageState": "NORMAL", "Platform": i.platform,
             "ImageCreator": "", "ImageSource": "OFFICIAL", "IsSupportCloudinit": True, "LicenseType": "TencentCloud"}
            for i in page(images, offset, limit)]}

    # ---------------------------------------------------------------- VPC
    @staticmethod
    def _vpc(v) -> dict:
        return {"VpcId": v.vpc_id, "VpcName": v.name, "CidrBlock": v.cidr, "IsDefault": v.is_default,
                "EnableMulticast": False, "CreatedTime": _beijing(v.created_at),
                "DnsServerSet": ["183.60.83.19", "183.60.82.98"], "DomainName": "", "DhcpOptionsId": "",
                "EnableDhcp": True, "Ipv6CidrBlock": "", "AssistantCidrSet": [],
                "TagSet": [{"Key": k, "Value": val} for k, val in v.tags.items()]}

    @staticmethod
    def _subnet(s) -> dict:
        return {"VpcId": s.vpc_id, "SubnetId": s.subnet_id, "SubnetName": s.name, "CidrBlock": s.cidr,
                "IsDefault": False, "EnableBroadcast": False, "Zone": s.zone, "RouteTableId": "rtb-" + s.vpc_id[4:],
                "CreatedTime": _beijing(s.created_at), "AvailableIpAddressCount": s.available_ips,
                "Ipv6CidrBlock": "", "NetworkAclId": "", "IsRemoteVpcSnat": False, "TotalIpAddressCount": s.total_ips,
                "TagSet": [{"Key": k, "Value": v} for k, v in s.tags.items()]}

    def create_vpc(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "VpcName", "CidrBlock")
        return {"Vpc": self._vpc(self.cloud.create_vpc(PROVIDER, region, p["CidrBlock"], p["VpcName"],
                                                       tags=_tags(p.get("Tags"))))}

    def describe_vpcs(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = p.get("VpcIds")
        vpcs = _filtered(self.cloud.vpcs(PROVIDER, region, set(ids) if ids else None), p.get("Filters"), {
            "vpc-id": lambda v: v.vpc_id, "vpc-name": lambda v: v.name, "cidr-block": lambda v: v.cidr,
            "is-default": lambda v: str(v.is_default).lower()})
        offset, limit = _paging(p)
        return {"TotalCount": len(vpcs), "VpcSet": [self._vpc(v) for v in page(vpcs, offset, limit)]}

    def delete_vpc(self, call: Call) -> dict:
        _need(call.params, "VpcId")
        self.cloud.delete_vpc(PROVIDER, self._region(call), call.params["VpcId"])
        return {}

    def create_subnet(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "VpcId", "SubnetName", "CidrBlock", "Zone")
        subnet = self.cloud.create_subnet(PROVIDER, region, p["VpcId"], p["Zone"], p["CidrBlock"], p["SubnetName"],
                                          _tags(p.get("Tags")))
        return {"Subnet": self._subnet(subnet)}

    def describe_subnets(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = p.get("SubnetIds")
        subnets = _filtered(self.cloud.subnets(PROVIDER, region, ids=set(ids) if ids else None), p.get("Filters"), {
            "vpc-id": lambda s: s.vpc_id, "subnet-id": lambda s: s.subnet_id, "subnet-name": lambda s: s.name,
            "zone": lambda s: s.zone, "cidr-block": lambda s: s.cidr, "is-default": lambda s: "false"})
        offset, limit = _paging(p)
        return {"TotalCount": len(subnets), "SubnetSet": [self._subnet(s) for s in page(subnets, offset, limit)]}

    def delete_subnet(self, call: Call) -> dict:
        _need(call.params, "SubnetId")
        self.cloud.delete_subnet(PROVIDER, self._region(call), call.params["SubnetId"])
        return {}

    @staticmethod
    def _group(g) -> dict:
        return {"SecurityGroupId": g.group_id, "SecurityGroupName": g.name, "SecurityGroupDesc": g.description,
                "ProjectId": "0", "IsDefault": False, "CreatedTime": _beijing(g.created_at),
                "UpdateTime": _beijing(g.created_at),
                "TagSet": [{"Key": k, "Value": v} for k, v in g.tags.items()]}

    def create_security_group(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "GroupName", "GroupDescription")
        group = self.cloud.create_security_group(PROVIDER, region, None, p["GroupName"], p["GroupDescription"],
                                                 tags=_tags(p.get("Tags")))
        return {"SecurityGroup": self._group(group)}

    def create_policies(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        _need(p, "SecurityGroupId", "SecurityGroupPolicySet")
        rules = []
        for key, direction in (("Ingress", "ingress"), ("Egress", "egress")):
            for policy in p["SecurityGroupPolicySet"].get(key) or []:
                proto = str(policy.get("Protocol") or "ALL").lower()
                if proto not in ("tcp", "udp", "icmp", "icmpv6", "gre", "all"):
                    raise SimError("invalid", "Protocol", f"Invalid protocol `{proto}`.",
                                   code="InvalidParameterValue.Malformed")
                low, high = _port(policy.get("Port"))
                action = str(policy.get("Action") or "ACCEPT").lower()
                rules.append(SimRule(direction, proto, low, high, policy.get("CidrBlock") or None,
                                     policy.get("SecurityGroupId") or None, "drop" if action == "drop" else "accept",
                                     1, policy.get("PolicyDescription", "")))
        self.cloud.add_rules(PROVIDER, region, p["SecurityGroupId"], rules)
        return {}

    def describe_security_groups(self, call: Call) -> dict:
        p = call.params
        region = self._region(call)
        ids = p.get("SecurityGroupIds")
        groups = _filtered(self.cloud.security_groups(PROVIDER, region, ids=set(ids) if ids else None),
                           p.get("Filters"), {"security-group-id": lambda g: g.group_id,
                                              "security-group-name": lambda g: g.name,
                                              "project-id": lambda g: "0"})
        offset, limit = _paging(p)
        return {"TotalCount": len(groups), "SecurityGroupSet": [self._group(g) for g in page(groups, offset, limit)]}

    def describe_policies(self, call: Call) -> dict:
        region = self._region(call)
        _need(call.params, "SecurityGroupId")
        found = self.cloud.security_groups(PROVIDER, region, ids={call.params["SecurityGroupId"]})
        if not found:
            raise SimError("not_found", "security_group")
        sets = {"ingress": [], "egress": []}
        for r in found[0].rules:
            port = "ALL" if r.from_port == -1 else (str(r.from_port) if r.from_port == r.to_port
                                                    else f"{r.from_port}-{r.to_port}")
            bucket = sets[r.direction]
            bucket.append({"PolicyIndex": len(bucket), "Protocol": r.protocol.upper(), "Port": port,
                           "CidrBlock": r.cidr or "", "SecurityGroupId": r.group_id or "", "Ipv6CidrBlock": "",
                           "Action": r.policy.upper(), "PolicyDescription": r.description,
                           "ModifyTime": _beijing(r.created_at)})
        return {"SecurityGroupPolicySet": {"Version": str(len(found[0].rules)), "Ingress": sets["ingress"],
                                           "Egress": sets["egress"]}}

    def delete_security_group(self, call: Call) -> dict:
        _need(call.params, "SecurityGroupId")
        self.cloud.delete_security_group(PROVIDER, self._region(call), call.params["SecurityGroupId"])
        return {}

"""BaiduCloud BCC v2 (instances, security groups, catalogue) and VPC v1 (VPCs, subnets) REST face.

Wire format (bce-python-sdk): REST JSON, `Authorization: bce-auth-v1/{ak}/{timestamp}/{expiration}/
{signedHeaders}/{signature}` over method, path, the sorted query and the host, content-* and
x-bce-* headers (all of them when signedHeaders is empty). Creates carry `clientToken` in the
query, which makes them idempotent: `POST /v2/instanceBySpec?clientToken=..` (`purchaseCount`,
`tags[{tagKey, tagValue}]`) answers `{instanceIds}`. Lists page with `marker`/`maxKeys` and answer
`{marker, isTruncated, nextMarker, maxKeys, <items>}`; the marker is the first item of the page.

Errors: non-2xx JSON `{requestId, code, message}` (the SDK raises KeyError, not its own error,
when any of the three is missing); `x-bce-request-id` header on every answer.

The region: from a `bcc.<region>.baidubce.com` Host header when there is one, else the first
catalogue region (bj): with an endpoint override one endpoint serves one region.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from typing import Optional
from urllib.parse import parse_qsl, quote

from werkzeug.wrappers import Response

from ..catalog import CATALOGUES
from ..model import LaunchSpec, SimError, SimRule
from .base import Call, Face, iso, parse_tags, to_int

PROVIDER = "BaiduCloud"
DEFAULT_REGION = CATALOGUES[PROVIDER].regions[0].region_id
_AUTH = re.compile(r"^bce-auth-v1/([^/]+)/([^/]+)/(\d+)/([^/]*)/([0-9a-fA-F]+)$")
_HOST = re.compile(r"^[a-z]+\.([a-z]+)\.baidubce\.com")
_SIGNED_BY_DEFAULT = {"host", "content-md5", "content-length", "content-type"}
_ENDPOINTS = {"bj": "华北-北京", "gz": "华南-广州"}

# (method, path template, API name, service, handler)
ROUTES = [
    ("POST", "/v2/instanceBySpec", "CreateInstanceBySpec", "bcc", "create_instances"),
    ("GET", "/v2/instance", "ListInstances", "bcc", "list_instances"),
    ("POST", "/v2/instance/batchDelete", "BatchDeleteInstances", "bcc", "batch_delete"),
    ("GET", "/v2/instance/flavorSpec", "ListFlavorSpec", "bcc", "list_flavor_spec"),
    ("DELETE", "/v2/instance/{instance_id}", "ReleaseInstance", "bcc", "release_instance"),
    ("POST", "/v2/region/describeRegions", "DescribeRegions", "bcc", "describe_regions"),
    ("GET", "/v2/zone", "ListZones", "bcc", "list_zones"),
    ("GET", "/v2/image", "ListImages", "bcc", "list_images"),
    ("POST", "/v2/securityGroup", "CreateSecurityGroup", "bcc", "create_security_group"),
    ("GET", "/v2/securityGroup", "ListSecurityGroups", "bcc", "list_security_groups"),
    ("DELETE", "/v2/securityGroup/{security_group_id}", "DeleteSecurityGroup", "bcc", "delete_security_group"),
    ("PUT", "/v2/securityGroup/{security_group_id}", "AuthorizeSecurityGroupRule", "bcc", "authorize_rule"),
    ("POST", "/v1/vpc", "CreateVpc", "vpc", "create_vpc"),
    ("GET", "/v1/vpc", "ListVpcs", "vpc", "list_vpcs"),
    ("DELETE", "/v1/vpc/{vpc_id}", "DeleteVpc", "vpc", "delete_vpc"),
    ("POST", "/v1/subnet", "CreateSubnet", "vpc", "create_subnet"),
    ("GET", "/v1/subnet", "ListSubnets", "vpc", "list_subnets"),
    ("DELETE", "/v1/subnet/{subnet_id}", "DeleteSubnet", "vpc", "delete_subnet"),
]
_ROUTES = [(method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?$"), api, service, fn)
           for method, path, api, service, fn in ROUTES]
_STATUS = {"pending": "Starting", "running": "Running", "stopped": "Stopped"}


def _time(ts: Optional[float]) -> Optional[str]:
    return iso(ts, "%Y-%m-%dT%H:%M:%SZ")


def _normalize(text: str) -> str:
    """RFC 3986 encoding as baidubce.utils.normalize_string does (unreserved kept, %XX upper)."""
    return quote(text, safe="-_.~")


def _need(obj: dict, *names: str) -> None:
    for name in names:
        if obj.get(name) in (None, "", []):
            raise SimError("missing", name, f"The parameter {name} is required.")


def _tags(items) -> dict:
    return {t.get("tagKey"): t.get("tagValue") or "" for t in items or [] if isinstance(t, dict) and t.get("tagKey")}


def _tag_list(tags: dict) -> list:
    return [{"tagKey": k, "tagValue": v} for k, v in tags.items()]


def _ports(text) -> tuple[int, int]:
    text = str(text or "").strip()
    if not text:
        return -1, -1
    try:
        low, _, high = text.partition("-")
        low, high = int(low), int(high or low)
    except ValueError:
        raise SimError("invalid", "portRange", f"Invalid portRange {text!r}.") from None
    if not 1 <= low <= high <= 65535:
        raise SimError("invalid", "portRange", f"Invalid portRange {text!r}.")
    return low, high


class BaiduFace(Face):
    provider = PROVIDER
    ops = {"CreateInstanceBySpec": "create", "ListInstances": "describe", "BatchDeleteInstances": "delete",
           "ReleaseInstance": "delete"}
    codes = {
        "auth_missing": (400, "InvalidHTTPAuthHeader", "The HTTP authorization header is invalid. Consult the "
                                                       "service documentation for details."),
        "auth_key": (403, "InvalidAccessKeyId", "The Access Key ID you provided does not exist in our records."),
        "auth_signature": (400, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                         "signature you provided. Check your Secret Access Key and "
                                                         "signing method. Consult the service documentation for "
                                                         "details."),
        "throttled": (429, "RequestLimitExceeded", "Request rate exceeds the limit. Please try again later."),
        "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
        "unknown_action": (400, "InvalidURI", "Could not parse the specified URI."),
        "missing": (400, "InappropriateJSON", "The JSON you provided was well-formed and valid, but not "
                                              "appropriate for this operation."),
        "invalid": (400, "InappropriateJSON", "The JSON you provided was well-formed and valid, but not "
                                              "appropriate for this operation."),
        ("invalid", "body"): (400, "MalformedJSON", "The JSON you provided was not well-formed."),
        "mismatch": (400, "InappropriateJSON", "The parameters do not belong together."),
        "idempotent_mismatch": (409, "IdempotentParameterMismatch", "The clientToken was used with different "
                                                                    "parameters."),
        "not_found": (404, "NoSuchObject", "The specified object is not found or resource do not exist."),
        "no_capacity": (400, "Instance.StockInsufficient", "The stock of the specified spec in this zone is "
                                                           "insufficient."),
        "quota": (400, "Instance.QuotaExceeded", "The number of instances exceeds the quota."),
        "ip_exhausted": (400, "Subnet.IpNotEnough", "The subnet has not enough free IP addresses."),
        ("in_use", "vpc"): (409, "Vpc.VpcInUse", "The VPC still has subnets or security groups."),
        ("in_use", "subnet"): (409, "Subnet.SubnetInUse", "The subnet still has instances."),
        ("in_use", "security_group"): (409, "SecurityGroup.InUse", "The security group is in use."),
        ("cidr_invalid", "vpc"): (400, "Vpc.InvalidCidr", "The CIDR block is invalid."),
        ("cidr_invalid", "subnet"): (400, "Subnet.InvalidCidr", "The CIDR block is not inside the VPC."),
        "cidr_conflict": (400, "Subnet.SubnetCidrConflict", "The CIDR block conflicts with another subnet."),
        "duplicate": (400, "SecurityGroup.RuleDuplicated", "The security group rule already exists."),
    }

    # ---------------------------------------------------------------- wire
    def matches(self, request) -> bool:
        return request.headers.get("Authorization", "").startswith("bce-auth-v1/")

    def parse(self, request) -> Call:
        route = next(((api, service, fn, m.groupdict()) for method, pattern, api, service, fn in _ROUTES
                      if method == request.method and (m := pattern.match(request.path))), None)
        api, service, fn, path_params = route or ("Unknown", "bcc", None, {})
        match = _AUTH.match(request.headers.get("Authorization", ""))
        pairs = parse_qsl(request.query_string.decode("utf-8"), keep_blank_values=True)
        host = _HOST.match(request.host or "")
        region = host.group(1) if host and CATALOGUES[PROVIDER].region(host.group(1)) else DEFAULT_REGION
        call = Call(api, service, region, match.group(1) if match else "", {}, request,
                    str(uuid.UUID(self.cloud.request_id())).lower())
        call.auth = {"route": fn, "pairs": pairs}
        if match:
            call.auth.update(timestamp=match.group(2), expiration=match.group(3), signed=match.group(4),
                             signature=match.group(5).lower())
        body = {}
        data = request.get_data(cache=True)
        if data and request.method in ("POST", "PUT"):
            try:
                body = json.loads(data)
            except ValueError:
                raise SimError("invalid", "body", "The JSON you provided was not well-formed.") from None
        call.params = {"path": path_params, "query": dict(pairs), "body": body if isinstance(body, dict) else {}}
        return call

    def verify(self, call: Call, secret: str) -> bool:
        """Recompute bce-auth-v1 as baidubce.auth.bce_v1_signer.sign does."""
        if "signature" not in call.auth:
            return False
        req = call.request
        key_info = f"bce-auth-v1/{call.access_key}/{call.auth['timestamp']}/{call.auth['expiration']}"
        sign_key = hmac.new(secret.encode("utf-8"), key_info.encode("utf-8"), hashlib.sha256).hexdigest()
        query = "&".join(sorted(f"{_normalize(k)}={_normalize(v)}" for k, v in call.auth["pairs"]))
        wanted = set(filter(None, call.auth["signed"].split(";"))) or None
        lines = []
        for name, value in req.headers.items():
            low, value = name.strip().lower(), value.strip()
            if not value:
                continue
            if (wanted is not None and low in wanted) or (wanted is None and (
                    low.startswith("x-bce-") or low in _SIGNED_BY_DEFAULT)):
                lines.append(f"{_normalize(low)}:{_normalize(value)}")
        to_sign = "\n".join([req.method, req.path, query, "\n".join(sorted(lines))])
        expected = hmac.new(sign_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, call.auth["signature"])

    def handler(self, call: Call):
        name = call.auth.get("route")
        if name is None:
            raise SimError("unknown_action", call.api, f"Could not parse the specified URI: {call.request.method} "
                                                       f"{call.request.path}.")
        return getattr(self, name)

    def _json(self, request_id: str, status: int, body) -> Response:
        response = Response(json.dumps(body) if body is not None else "", status=status,
                            content_type="application/json;charset=UTF-8")
        response.headers["x-bce-request-id"] = request_id
        return response

    def success(self, call: Call, result) -> Response:
        return self._json(call.request_id, 200, result)

    def failure(self, call, err, status, code, message) -> Response:
        # all three keys, always: without one of them the SDK fails with a KeyError instead of its error
        request_id = call.request_id if call else str(uuid.UUID(self.cloud.request_id())).lower()
        return self._json(request_id, status, {"requestId": request_id, "code": code, "message": message})

    # ---------------------------------------------------------------- paging
    @staticmethod
    def _page(items: list, key: str, q: dict, name: str) -> dict:
        """A marker/maxKeys page of `items` (the marker is the first item of the page)."""
        size = to_int(q.get("maxKeys"), "maxKeys", 1000, 1, 1000)
        start = 0
        if q.get("marker"):
            ids = [getattr(i, key) if not isinstance(i, dict) else i[key] for i in items]
            if q["marker"] not in ids:
                raise SimError("invalid", "marker", f"The marker {q['marker']} is invalid.")
            start = ids.index(q["marker"])
        chunk, rest = items[start:start + size], items[start + size:]
        first = rest[0] if rest else None
        return {"marker": q.get("marker") or "", "isTruncated": bool(rest), "maxKeys": size,
                "nextMarker": (getattr(first, key) if not isinstance(first, dict) else first[key]) if first else "",
                name: chunk}

    # ---------------------------------------------------------------- instances
    def create_instances(self, call: Call) -> dict:
        body = call.params["body"]
        region = call.region
        _need(body, "spec", "imageId", "subnetId")
        count = to_int(body.get("purchaseCount"), "purchaseCount", 1, 1, 1000)
        billing = body.get("billing") or {}
        timing = billing.get("paymentTiming") or "Postpaid"
        if timing not in ("Postpaid", "Prepaid", "bidding"):
            raise SimError("invalid", "paymentTiming", f"Invalid paymentTiming {timing!r}.")
        bid_model = body.get("bidModel") if timing == "bidding" else None
        if timing == "bidding" and (bid_model not in ("market", "custom") or
                                    (bid_model == "custom" and not body.get("bidPrice"))):
            raise SimError("invalid", "bidModel", "A bidding instance needs bidModel market, or custom with bidPrice.")
        groups = list(body.get("securityGroupIds") or ([body["securityGroupId"]] if body.get("securityGroupId")
                                                       else []))
        subnet = self.cloud.subnets(PROVIDER, region, ids={body["subnetId"]})
        if subnet and body.get("zoneName") and subnet[0].zone != body["zoneName"]:
            raise SimError("mismatch", "zoneName", f"The subnet {body['subnetId']} is not in {body['zoneName']}.")
        bandwidth = to_int(body.get("networkCapacityInMbps"), "networkCapacityInMbps", 0, 0, 1000)
        token = call.params["query"].get("clientToken")
        spec = LaunchSpec(
            zone=body.get("zoneName") or None, instance_type=body["spec"], image_id=body["imageId"],
            subnet_id=body["subnetId"], security_group_ids=groups, tags=_tags(body.get("tags")),
            name=body.get("name") or "", bandwidth_out=bandwidth, charge_type=timing, client_token=token,
            extra={"hostname": body.get("hostname") or "", "root_disk": body.get("rootDiskSizeInGb") or 40,
                   "root_disk_type": body.get("rootDiskStorageType") or "cloud_hp1",
                   "internet_charge_type": body.get("internetChargeType") or "",
                   "spot_strategy": bid_model or "NoSpot",
                   "spot_price_limit": body.get("bidPrice") if bid_model == "custom" else None})
        # the password is sent AES-encrypted with the secret key: leave it out of the comparison
        fingerprint = json.dumps({k: v for k, v in body.items() if k != "adminPass"}, sort_keys=True)
        ids = self.cloud.idempotent(
            (PROVIDER, call.access_key, region, "CreateInstanceBySpec"), token, fingerprint,
            lambda: [i.instance_id for i in self.cloud.run_instances(PROVIDER, region, spec, count)])
        return {"instanceIds": ids, "warningList": []}

    def _instance(self, i) -> dict:
        image = self.cloud.catalogue(PROVIDER).image(i.image_id)
        return {
            "id": i.instance_id, "name": i.name if i.name != i.instance_id else f"instance-{i.instance_id[2:]}",
            "hostname": i.extra.get("hostname") or f"instance-{i.instance_id[2:].lower()}", "roleName": "",
            "status": _STATUS.get(i.status, "Deleted"), "instanceType": "N5", "spec": i.instance_type,
            "cpuCount": i.cores, "memoryCapacityInGB": int(i.memory_gb), "localDiskSizeInGB": 0,
            "imageId": i.image_id, "osName": image.platform if image else "", "osVersion": image.name if image else "",
            "osArch": "x86_64 (64bit)", "networkCapacityInMbps": i.bandwidth_out, "placementPolicy": "default",
            "zoneName": i.zone, "subnetId": i.subnet_id, "vpcId": i.vpc_id, "internalIp": i.ip_inner or "",
            "publicIp": i.ip_outer or "", "createTime": _time(i.created_at), "expireTime": None,
            "paymentTiming": i.charge_type, "autoRenew": False, "desc": "", "tags": _tag_list(i.tags),
            "keypairId": "", "keypairName": "", "dedicatedHostId": "", "deploysetId": "", "ipv6": "",
            "eniQuota": 0, "isEipAutoRelatedDelete": False, "hosteyeType": "notOpen", "enableJumboFrame": False,
        }

    def list_instances(self, call: Call) -> dict:
        q = call.params["query"]
        size = to_int(q.get("maxKeys"), "maxKeys", 1000, 1, 1000)
        ids = {s for s in (q.get("instanceIds") or "").split(",") if s} or None
        tests = []
        for name, attr in (("zoneName", "zone"), ("vpcId", "vpc_id"), ("internalIp", "ip_inner")):
            if q.get(name):
                tests.append(lambda i, want=q[name], attr=attr: getattr(i, attr) == want)
        where = (lambda i: all(t(i) for t in tests)) if tests else None
        after = 0
        if q.get("marker"):
            found = self.cloud.instances(PROVIDER, ids={q["marker"]}, include_deleted=True)
            if not found:
                raise SimError("invalid", "marker", f"The marker {q['marker']} is invalid.")
            after = found[0].seq - 1
        _, chunk, _ = self.cloud.instance_page(PROVIDER, call.region, ids=ids, tags=parse_tags(q.get("tags"), ":"),
                                               where=where, after_seq=after, limit=size + 1)
        more = len(chunk) > size
        return {"marker": q.get("marker") or "", "isTruncated": more, "maxKeys": size,
                "nextMarker": chunk[size].instance_id if more else "",
                "instances": [self._instance(i) for i in chunk[:size]]}

    def _delete(self, region: str, ids: list) -> None:
        live = {i.instance_id for i in self.cloud.instances(PROVIDER, region, ids=set(ids))}
        gone = [i for i in ids if i not in live]
        if gone:
            raise SimError("not_found", "instance", f"The instance {gone[0]} is not found.")
        self.cloud.delete_instances(PROVIDER, ids)

    def batch_delete(self, call: Call) -> None:
        ids = call.params["body"].get("instanceIds")
        if not ids or not isinstance(ids, list):
            raise SimError("missing", "instanceIds", "The parameter instanceIds is required.")
        self._delete(call.region, [str(i) for i in ids])

    def release_instance(self, call: Call) -> None:
        self._delete(call.region, [call.params["path"]["instance_id"]])

    # ---------------------------------------------------------------- catalogue
    def describe_regions(self, call: Call) -> dict:
        wanted = call.params["body"].get("region") or ""
        return {"regions": [{"regionId": r.region_id, "regionName": _ENDPOINTS.get(r.region_id, r.name),
                             "regionEndpoint": f"bcc.{r.region_id}.baidubce.com"}
                            for r in self.cloud.catalogue(PROVIDER).regions if not wanted or r.region_id == wanted]}

    def list_zones(self, call: Call) -> dict:
        return {"zones": [{"zoneName": z.zone_id} for z in self.cloud.catalogue(PROVIDER).region(call.region).zones]}

    def list_flavor_spec(self, call: Call) -> dict:
        cat = self.cloud.catalogue(PROVIDER)
        zones = cat.region(call.region).zones
        wanted = call.params["query"].get("zoneName")
        if wanted:
            self.cloud.check_zone(PROVIDER, call.region, wanted)
        out = []
        for z in zones:
            if wanted and z.zone_id != wanted:
                continue
            families: dict = {}
            for t in cat.instance_types:
                if self.cloud.stock_left(PROVIDER, z.zone_id, t.name) <= 0:
                    continue  # sold out in this zone
                families.setdefault(t.family, []).append({
                    "cpuCount": t.cores, "memoryCapacityInGB": int(t.memory_gb), "ephemeralDiskInGb": 0,
                    "ephemeralDiskCount": 0, "ephemeralDiskType": "", "gpuCardType": "", "gpuCardCount": 0,
                    "fpgaCardType": "", "fpgaCardCount": 0, "productType": "both", "spec": t.name,
                    "specId": t.family.split(".")[-1], "cpuModel": "Intel Xeon Platinum", "cpuGHz": "2.5",
                    "networkBandwidth": "2Gbps", "networkPackage": "300000"})
            out.append({"zoneName": z.zone_id, "bccResources": {"flavorGroups": [
                {"groupId": family, "flavors": flavors} for family, flavors in families.items()]},
                "bbcResources": {"flavorGroups": []}})
        return {"zoneResources": out}

    def list_images(self, call: Call) -> dict:
        q = call.params["query"]
        kind = q.get("imageType") or "All"
        images = [i for i in self.cloud.catalogue(PROVIDER).images if kind in ("All", "System")]
        if q.get("imageName"):
            images = [i for i in images if i.name == q["imageName"]]
        rows = [{"id": i.image_id, "name": f"{i.platform} {i.name}", "type": "System", "osType": i.os_type,
                 "osVersion": i.name, "osArch": "x86_64 (64bit)", "osName": i.platform, "osBuild": "2021103000",
                 "createTime": "2021-10-30T02:25:00Z", "status": "Available", "desc": "", "specialVersion": "",
                 "minDiskGb": i.size_gb} for i in images]
        return self._page(rows, "id", q, "images")

    # ---------------------------------------------------------------- VPC
    def _idempotent(self, call: Call, api: str, fn):
        body = call.params["body"]
        return self.cloud.idempotent((PROVIDER, call.access_key, call.region, api),
                                     call.params["query"].get("clientToken"), json.dumps(body, sort_keys=True), fn)

    def create_vpc(self, call: Call) -> dict:
        body = call.params["body"]
        _need(body, "name", "cidr")
        vpc_id = self._idempotent(call, "CreateVpc", lambda: self.cloud.create_vpc(
            PROVIDER, call.region, body["cidr"], body["name"], body.get("description") or "",
            tags=_tags(body.get("tags"))).vpc_id)
        return {"vpcId": vpc_id}

    def list_vpcs(self, call: Call) -> dict:
        q = call.params["query"]
        ids = {s for s in (q.get("vpcIds") or "").split(",") if s} or None
        vpcs = [{"vpcId": v.vpc_id, "name": v.name, "cidr": v.cidr, "description": v.description,
                 "isDefault": v.is_default, "secondaryCidr": [], "ipv6Cidr": "", "createdTime": _time(v.created_at),
                 "tags": _tag_list(v.tags)} for v in self.cloud.vpcs(PROVIDER, call.region, ids)]
        if q.get("isDefault"):
            vpcs = [v for v in vpcs if str(v["isDefault"]).lower() == q["isDefault"].lower()]
        return self._page(vpcs, "vpcId", q, "vpcs")

    def delete_vpc(self, call: Call) -> None:
        self.cloud.delete_vpc(PROVIDER, call.region, call.params["path"]["vpc_id"])

    def create_subnet(self, call: Call) -> dict:
        body = call.params["body"]
        _need(body, "name", "zoneName", "cidr", "vpcId")
        subnet_id = self._idempotent(call, "CreateSubnet", lambda: self.cloud.create_subnet(
            PROVIDER, call.region, body["vpcId"], body["zoneName"], body["cidr"], body["name"],
            _tags(body.get("tags"))).subnet_id)
        return {"subnetId": subnet_id}

    def list_subnets(self, call: Call) -> dict:
        q = call.params["query"]
        ids = {s for s in (q.get("subnetIds") or "").split(",") if s} or None
        subnets = [{"subnetId": s.subnet_id, "name": s.name, "zoneName": s.zone, "cidr": s.cidr, "vpcId": s.vpc_id,
                    "subnetType": "BCC", "description": "", "createdTime": _time(s.created_at),
                    "availableIp": s.available_ips, "ipv6Cidr": "", "tags": _tag_list(s.tags)}
                   for s in self.cloud.subnets(PROVIDER, call.region, q.get("vpcId") or None, ids)
                   if not q.get("zoneName") or s.zone == q["zoneName"]]
        return self._page(subnets, "subnetId", q, "subnets")

    def delete_subnet(self, call: Call) -> None:
        self.cloud.delete_subnet(PROVIDER, call.region, call.params["path"]["subnet_id"])

    # ---------------------------------------------------------------- security groups
    @staticmethod
    def _sim_rule(rule: dict) -> SimRule:
        if not isinstance(rule, dict):
            raise SimError("invalid", "rules", "A rule must be an object.")
        direction = rule.get("direction")
        if direction not in ("ingress", "egress"):
            raise SimError("invalid", "direction", "The rule direction must be ingress or egress.")
        protocol = (rule.get("protocol") or "all").lower()
        if protocol not in ("tcp", "udp", "icmp", "all"):
            raise SimError("invalid", "protocol", f"Invalid protocol {protocol!r}.")
        low, high = _ports(rule.get("portRange")) if protocol in ("tcp", "udp") else (-1, -1)
        side = "source" if direction == "ingress" else "dest"
        group = rule.get(f"{side}GroupId") or None
        cidr = rule.get(f"{side}Ip") or None
        if cidr in ("all", "") or (cidr is None and group is None):
            cidr = "0.0.0.0/0"
        return SimRule(direction, protocol, low, high, cidr, group, description=rule.get("remark") or "")

    @staticmethod
    def _rule(r, group_id: str) -> dict:
        ports = "" if r.from_port == -1 else (str(r.from_port) if r.from_port == r.to_port
                                              else f"{r.from_port}-{r.to_port}")
        side, other = ("source", "dest") if r.direction == "ingress" else ("dest", "source")
        return {"remark": r.description, "direction": r.direction, "ethertype": "IPv4", "portRange": ports,
                "protocol": r.protocol, f"{side}GroupId": r.group_id or "", f"{side}Ip": r.cidr or "",
                f"{other}GroupId": "", f"{other}Ip": "", "securityGroupId": group_id,
                "securityGroupRuleId": r.rule_id, "createdTime": _time(r.created_at),
                "updatedTime": _time(r.created_at)}

    def create_security_group(self, call: Call) -> dict:
        body = call.params["body"]
        _need(body, "name", "vpcId")
        rules = [self._sim_rule(r) for r in body.get("rules") or []]

        def create():
            group = self.cloud.create_security_group(PROVIDER, call.region, body["vpcId"], body["name"],
                                                     body.get("desc") or "", tags=_tags(body.get("tags")))
            if rules:
                self.cloud.add_rules(PROVIDER, call.region, group.group_id, rules)
            return group.group_id

        return {"securityGroupId": self._idempotent(call, "CreateSecurityGroup", create)}

    def list_security_groups(self, call: Call) -> dict:
        q = call.params["query"]
        ids = {s for s in (q.get("securityGroupIds") or q.get("securityGroupId") or "").split(",") if s} or None
        groups = [{"id": g.group_id, "name": g.name, "vpcId": g.vpc_id or "", "desc": g.description,
                   "createdTime": _time(g.created_at), "sgVersion": len(g.rules),
                   "rules": [self._rule(r, g.group_id) for r in g.rules], "tags": _tag_list(g.tags)}
                  for g in self.cloud.security_groups(PROVIDER, call.region, q.get("vpcId") or None, ids)]
        return self._page(groups, "id", q, "securityGroups")

    def delete_security_group(self, call: Call) -> None:
        self.cloud.delete_security_group(PROVIDER, call.region, call.params["path"]["security_group_id"])

    def authorize_rule(self, call: Call) -> None:
        if "authorizeRule" not in call.params["query"]:
            raise SimError("unknown_action", call.api, "Could not parse the specified URI.")
        rule = call.params["body"].get("rule")
        if not rule:
            raise SimError("missing", "rule", "The parameter rule is required.")
        self.cloud.add_rules(PROVIDER, call.region, call.params["path"]["security_group_id"], [self._sim_rule(rule)],
                             duplicate_error=True)

"""AWSCloud EC2 face, written on the shared model (not moto).

Why not moto: it launches MinCount instead of MaxCount, ignores ClientToken, pages by reservation,
keeps global state shared by every CloudSim in a process, and knows nothing of our subnets' address
pools, stock, boot time or request log. Instead, botocore's own EC2 service model drives the codec:
requests (EC2 query protocol, form-encoded Action=...) are decoded into the same dicts boto3 takes
as parameters, and answers are encoded from dicts shaped like boto3's results into the XML
botocore parses. So a handler reads `call.params["MinCount"]` and returns {"Reservations": [...]}.
Signatures are checked with botocore's SigV4Auth.
"""
from __future__ import annotations

import fnmatch
import functools
import hmac
import re
import time
import xml.etree.ElementTree as ET
from typing import Optional
from urllib.parse import parse_qsl

from werkzeug.wrappers import Response

from ..model import DELETED, LaunchSpec, SimError, SimRule
from .base import Call, Face, iso, seq_token, token_seq

PROVIDER = "AWSCloud"
OWNER = "123456789012"
TERMINATED_VISIBLE = 3600.0  # terminated instances stay visible in DescribeInstances for about an hour
XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/]*)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                   r"SignedHeaders=([^,]+),\s*Signature=([0-9a-fA-F]+)")
_INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
_PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "tcp": "tcp", "17": "udp", "udp": "udp", "1": "icmp",
              "icmp": "icmp"}


@functools.lru_cache(maxsize=1)
def service_model():
    import botocore.session  # lazy: ~0.3 s, only when an AWS request arrives
    return botocore.session.get_session().get_service_model("ec2")


@functools.lru_cache(maxsize=None)
def operation_model(name: str):
    return service_model().operation_model(name)


# ---------------------------------------------------------------- EC2 query codec
def _query_name(shape, default: str) -> str:
    # mirrors botocore.serialize.EC2Serializer._get_serialized_name
    if "queryName" in shape.serialization:
        return shape.serialization["queryName"]
    if "name" in shape.serialization:
        name = shape.serialization["name"]
        return name[0].upper() + name[1:]
    return default


def decode(shape, params: dict, prefix: str = "", prefixes: Optional[set] = None):
    """Flat EC2 query parameters (TagSpecification.1.Tag.1.Key=...) into boto3-style values."""
    if prefixes is None:
        prefixes = {key.rsplit(".", n)[0] for key in params for n in range(1, key.count(".") + 1)}
    kind = shape.type_name
    if kind == "structure":
        if prefix and prefix not in prefixes:
            return None
        out = {}
        for name, member in shape.members.items():
            key = _query_name(member, name)
            value = decode(member, params, f"{prefix}.{key}" if prefix else key, prefixes)
            if value is not None:
                out[name] = value
        return out
    if kind == "list":
        if prefix not in prefixes:
            return [] if params.get(prefix) == "" else None
        out, index = [], 1
        while (value := decode(shape.member, params, f"{prefix}.{index}", prefixes)) is not None:
            out.append(value)
            index += 1
        return out
    raw = params.get(prefix)
    if raw is None or kind == "map":
        return None
    try:
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("float", "double"):
            return float(raw)
    except ValueError:
        raise SimError("invalid", prefix, f"Invalid value '{raw}' for {prefix}.") from None
    if kind == "boolean":
        return raw.lower() == "true"
    return raw


def encode(parent, shape, value, tag: str) -> None:
    """One boto3-style value into EC2 response XML under `parent`."""
    element = ET.SubElement(parent, tag)
    kind = shape.type_name
    if kind == "structure":
        unknown = set(value) - set(shape.members)
        if unknown:  # a typo in a handler would otherwise vanish silently from the answer
            raise KeyError(f"{shape.name} has no member(s) {sorted(unknown)}")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                encode(element, member, value[name], member.serialization.get("name", name))
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        for entry in value:
            encode(element, shape.member, entry, item)
    elif kind == "boolean":
        element.text = "true" if value else "false"
    elif kind == "timestamp":
        element.text = value if isinstance(value, str) else iso(value, "%Y-%m-%dT%H:%M:%S.000Z")
    else:
        element.text = str(value)


def _xml(root) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


# ---------------------------------------------------------------- filters
def _predicate(filters, getters: dict):
    """EC2 Filters: values OR-ed (with * and ? wildcards), filters AND-ed; tag:KEY, tag-key, tag-value."""
    def tags_of(item):  # catalogue rows carry no tags
        return getattr(item, "tags", None) or {}

    def hit(candidates, values):
        return any(c is not None and fnmatch.fnmatchcase(str(c), v) for c in candidates for v in values)

    def listed(found):
        return found if isinstance(found, (list, tuple, set)) else [found]

    tests = []
    for f in filters or []:
        name, values = f.get("Name", ""), f.get("Values") or []
        if name.startswith("tag:"):
            tests.append(lambda i, key=name[4:], values=values: key in tags_of(i) and hit([tags_of(i)[key]], values))
        elif name == "tag-key":
            tests.append(lambda i, values=values: hit(tags_of(i).keys(), values))
        elif name == "tag-value":
            tests.append(lambda i, values=values: hit(tags_of(i).values(), values))
        elif name in getters:
            tests.append(lambda i, get=getters[name], values=values: hit(listed(get(i)), values))
        else:
            raise SimError("invalid", "Filter", f"The filter '{name}' is invalid")
    return lambda item: all(test(item) for test in tests)


def _filter(items: list, filters, getters: dict) -> list:
    keep = _predicate(filters, getters)
    return [i for i in items if keep(i)]


def _tags(specs, resource: str) -> dict:
    tags = {}
    for spec in specs or []:
        if spec.get("ResourceType") == resource:
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []})
    return tags


def _tag_list(tags: dict) -> list:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class AwsFace(Face):
    provider = PROVIDER
    ops = {"RunInstances": "create", "DescribeInstances": "describe", "DescribeInstanceStatus": "describe",
           "TerminateInstances": "delete"}
    codes = {
        "auth_missing": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "auth_key": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "auth_signature": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
        "throttled": (503, "RequestLimitExceeded", "Request limit exceeded."),
        "internal": (500, "InternalError", "An internal error has occurred"),
        "unknown_action": (400, "InvalidAction", "The action is not valid for this web service."),
        "missing": (400, "MissingParameter", ""),
        "invalid": (400, "InvalidParameterValue", ""),
        ("not_found", "region"): (400, "InvalidParameterValue", "The region is not offered by the emulator."),
        ("not_found", "zone"): (400, "InvalidParameterValue", "Invalid availability zone."),
        ("not_found", "instance_type"): (400, "InvalidParameterValue", "Invalid value for InstanceType."),
        ("not_found", "instance"): (400, "InvalidInstanceID.NotFound", "The instance ID does not exist"),
        ("not_found", "image"): (400, "InvalidAMIID.NotFound", "The image id does not exist"),
        ("not_found", "vpc"): (400, "InvalidVpcID.NotFound", "The vpc ID does not exist"),
        ("not_found", "subnet"): (400, "InvalidSubnetID.NotFound", "The subnet ID does not exist"),
        ("not_found", "security_group"): (400, "InvalidGroup.NotFound", "The security group does not exist"),
        ("not_found", "resource"): (400, "InvalidID", "The ID is not valid"),
        "in_use": (400, "DependencyViolation", "The resource has a dependent object"),
        ("cidr_invalid", "vpc"): (400, "InvalidVpc.Range", "The CIDR is invalid."),
        ("cidr_invalid", "subnet"): (400, "InvalidSubnet.Range", "The CIDR is invalid."),
        "cidr_conflict": (400, "InvalidSubnet.Conflict", "The CIDR conflicts with another subnet"),
        "no_capacity": (500, "InsufficientInstanceCapacity", "We currently do not have sufficient capacity in "
                                                             "the Availability Zone you requested."),
        "quota": (400, "InstanceLimitExceeded", "You have requested more instances than your current instance "
                                                "limit allows."),
        "idempotent_mismatch": (400, "IdempotentParameterMismatch", "Arguments on this idempotent request are "
                                                                    "inconsistent with arguments used in "
                                                                    "previous request(s)."),
        "ip_exhausted": (400, "InsufficientFreeAddressesInSubnet", "There are not enough free addresses in the "
                                                                   "subnet."),
        "mismatch": (400, "InvalidParameter", "The parameters belong to different networks."),
        ("duplicate", "security_group"): (400, "InvalidGroup.Duplicate", "The security group already exists"),
        ("duplicate", "rule"): (400, "InvalidPermission.Duplicate", "The specified rule already exists"),
        "dry_run": (412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."),
    }

    def __init__(self, sim):
        super().__init__(sim)
        self.handlers = {
            "RunInstances": self.run_instances, "DescribeInstances": self.describe_instances,
            "TerminateInstances": self.terminate_instances, "DescribeRegions": self.describe_regions,
            "DescribeAvailabilityZones": self.describe_zones, "DescribeInstanceTypes": self.describe_instance_types,
            "DescribeInstanceTypeOfferings": self.describe_type_offerings, "DescribeImages": self.describe_images,
            "CreateVpc": self.create_vpc, "DescribeVpcs": self.describe_vpcs, "DeleteVpc": self.delete_vpc,
            "CreateSubnet": self.create_subnet, "DescribeSubnets": self.describe_subnets,
            "DeleteSubnet": self.delete_subnet, "CreateSecurityGroup": self.create_security_group,
            "AuthorizeSecurityGroupIngress": self.authorize_ingress,
            "AuthorizeSecurityGroupEgress": self.authorize_egress,
            "DescribeSecurityGroups": self.describe_security_groups,
            "DeleteSecurityGroup": self.delete_security_group, "CreateTags": self.create_tags,
        }

    # ---------------------------------------------------------------- wire
    def matches(self, request) -> bool:
        if request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            return True
        return request.mimetype == "application/x-www-form-urlencoded" and b"Action=" in request.get_data(cache=True)

    def parse(self, request) -> Call:
        try:
            service_model()
        except ImportError:
            raise SimError("internal", "request", "cloudsim: the AWS face needs botocore, which is not installed.",
                           code="ServiceUnavailable", status=503) from None
        params = dict(parse_qsl(request.query_string.decode("utf-8"), keep_blank_values=True))
        params.update(parse_qsl(request.get_data(cache=True).decode("utf-8"), keep_blank_values=True))
        match = _AUTH.match(request.headers.get("Authorization", ""))
        call = Call(params.get("Action", ""), match.group(4) if match else "ec2", match.group(3) if match else "",
                    match.group(1) if match else "", params, request, self.cloud.request_id().lower())
        if match:
            call.auth = {"date": match.group(2), "signed": match.group(5), "signature": match.group(6).lower()}
        call.auth["raw"] = params
        return call

    def verify(self, call: Call, secret: str) -> bool:
        """Recompute SigV4 with botocore over exactly the headers the client signed."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        req = call.request
        amz_date = req.headers.get("X-Amz-Date", "")
        if not amz_date.startswith(call.auth["date"]):
            return False
        headers = {h: req.headers.get(h, "") for h in call.auth["signed"].split(";")}
        url = f"{req.scheme}://{req.host}{req.full_path.rstrip('?')}"
        aws_request = AWSRequest(method=req.method, url=url, data=req.get_data(cache=True), headers=headers)
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(call.access_key, secret), call.service, call.region)
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        return hmac.compare_digest(expected, call.auth["signature"])

    def handler(self, call: Call):
        fn = self.handlers.get(call.api)
        operation = operation_model(call.api) if call.api in service_model().operation_names else None
        if fn is None or operation is None:
            raise SimError("unknown_action", call.api, f"The action {call.api} is not valid for this web service."
                           if operation is None else f"The emulator does not implement {call.api}.")
        call.params = decode(operation.input_shape, call.auth["raw"]) if operation.input_shape else {}
        for name in operation.input_shape.required_members if operation.input_shape else []:
            if name not in call.params:
                raise SimError("missing", name, f"The request must contain the parameter {name}")
        return fn

    def success(self, call: Call, result: dict) -> Response:
        operation = operation_model(call.api)
        root = ET.Element(f"{call.api}Response", xmlns=XMLNS)
        ET.SubElement(root, "requestId").text = call.request_id
        if operation.output_shape is not None:
            unknown = set(result) - set(operation.output_shape.members)
            if unknown:
                raise KeyError(f"{call.api} output has no member(s) {sorted(unknown)}")
            for name, member in operation.output_shape.members.items():
                if result.get(name) is not None:
                    encode(root, member, result[name], member.serialization.get("name", name))
        return Response(_xml(root), status=200, content_type="text/xml;charset=UTF-8")

    def failure(self, call, err, status, code, message) -> Response:
        root = ET.Element("Response")
        error = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
        ET.SubElement(error, "Code").text = code
        ET.SubElement(error, "Message").text = message
        ET.SubElement(root, "RequestID").text = call.request_id if call else self.cloud.request_id().lower()
        return Response(_xml(root), status=status, content_type="text/xml;charset=UTF-8")

    def _region(self, call: Call) -> str:
        self.cloud.check_region(PROVIDER, call.region)
        return call.region

    # ---------------------------------------------------------------- instances
    def _state(self, i, override: Optional[str] = None) -> dict:
        name = override or ("terminated" if i.status == DELETED else i.status)
        codes = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
        return {"Code": codes[name], "Name": name}

    def _group_names(self, region: str) -> dict:
        return {g.group_id: g.name for g in self.cloud.security_groups(PROVIDER, region)}

    def _instance(self, i, groups: dict, state: Optional[str] = None) -> dict:
        live = i.status != DELETED
        image = self.cloud.catalogue(PROVIDER).image(i.image_id)
        dns = f"ip-{i.ip_inner.replace('.', '-')}.ec2.internal" if live and i.ip_inner else ""
        return {
            "InstanceId": i.instance_id, "ImageId": i.image_id, "State": self._state(i, state),
            "PrivateDnsName": dns, "PublicDnsName": "", "StateTransitionReason": "" if live else "User initiated",
            "AmiLaunchIndex": i.launch_index, "InstanceType": i.instance_type, "LaunchTime": i.created_at,
            "Placement": {"AvailabilityZone": i.zone, "GroupName": "", "Tenancy": "default"},
            "Monitoring": {"State": "disabled"}, "SubnetId": i.subnet_id if live else None,
            "VpcId": i.vpc_id if live else None, "PrivateIpAddress": i.ip_inner if live else None,
            "PublicIpAddress": i.ip_outer if live else None, "Architecture": "x86_64", "RootDeviceType": "ebs",
            "RootDeviceName": "/dev/xvda", "ClientToken": i.client_token or "", "Hypervisor": "xen",
            "VirtualizationType": "hvm", "EbsOptimized": False, "SourceDestCheck": True,
            "SecurityGroups": [{"GroupId": g, "GroupName": groups.get(g, "")} for g in i.security_group_ids],
            "Tags": _tag_list(i.tags) or None,
            "PlatformDetails": image.platform if image else "Linux/UNIX",
            "InstanceLifecycle": "spot" if i.extra.get("spot_strategy") == "spot" else None,
        }

    def _default_group(self, region: str, vpc_id: str) -> Optional[str]:
        return next((g.group_id for g in self.cloud.security_groups(PROVIDER, region, vpc_id) if g.name == "default"),
                    None)

    def run_instances(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        low, high = a["MinCount"], a["MaxCount"]
        if low < 1 or high < low:
            raise SimError("invalid", "MinCount", "MinCount must be at least 1 and at most MaxCount.")
        if not a.get("ImageId"):
            raise SimError("missing", "ImageId", "The request must contain the parameter ImageId")
        nic = next((n for n in a.get("NetworkInterfaces") or [] if n.get("DeviceIndex", 0) == 0), {})
        subnet_id = a.get("SubnetId") or nic.get("SubnetId")
        if not subnet_id:
            raise SimError("missing", "SubnetId", "No default VPC for this user.", code="VPCIdNotSpecified")
        subnets = self.cloud.subnets(PROVIDER, region, ids={subnet_id})
        if not subnets:
            raise SimError("not_found", "subnet", f"The subnet ID '{subnet_id}' does not exist")
        groups = list(a.get("SecurityGroupIds") or nic.get("Groups") or [])
        for name in a.get("SecurityGroups") or []:
            found = [g.group_id for g in self.cloud.security_groups(PROVIDER, region, subnets[0].vpc_id)
                     if g.name == name]
            if not found:
                raise SimError("not_found", "security_group", f"The security group '{name}' does not exist in VPC "
                               f"'{subnets[0].vpc_id}'")
            groups += found
        if not groups:
            groups = [g for g in [self._default_group(region, subnets[0].vpc_id)] if g]
        market = a.get("InstanceMarketOptions") or {}
        spot = market.get("MarketType") == "spot"
        spec = LaunchSpec(
            zone=(a.get("Placement") or {}).get("AvailabilityZone"), instance_type=a.get("InstanceType", "m1.small"),
            image_id=a["ImageId"], subnet_id=subnet_id, security_group_ids=groups,
            tags=_tags(a.get("TagSpecifications"), "instance"), public_ip=bool(nic.get("AssociatePublicIpAddress")),
            client_token=a.get("ClientToken"),
            extra={"key_name": a.get("KeyName"), "spot_strategy": "spot" if spot else "NoSpot",
                   "spot_price_limit": (market.get("SpotOptions") or {}).get("MaxPrice") if spot else None})
        if a.get("DryRun"):
            raise SimError("dry_run", "request")
        fingerprint = tuple(sorted((k, v) for k, v in call.auth["raw"].items() if k != "ClientToken"))

        def create():
            try:
                return [i.instance_id for i in self.cloud.run_instances(PROVIDER, region, spec, high, low)]
            except SimError as err:
                if spot and err.kind == "no_capacity":  # the same code, EC2's spot wording
                    err.message = "There is no Spot capacity available that matches your request."
                raise

        ids = self.cloud.idempotent(
            (PROVIDER, call.access_key, region, "RunInstances"), a.get("ClientToken"), fingerprint, create)
        made = self.cloud.instances(PROVIDER, region, ids=set(ids), include_deleted=True)
        return {"ReservationId": made[0].group_id, "OwnerId": OWNER, "Groups": [],
                "Instances": [self._instance(i, self._group_names(region), "pending" if i.status != DELETED else None)
                              for i in made]}

    def _visible(self, region: str, ids=None) -> list:
        return self.cloud.instances(PROVIDER, region, ids=ids, deleted_since=time.time() - TERMINATED_VISIBLE)

    def _known(self, region: str, ids: list) -> list:
        bad = [i for i in ids if not _INSTANCE_ID.match(i)]
        if bad:
            raise SimError("invalid", "InstanceId", f"Invalid id: \"{bad[0]}\"", code="InvalidInstanceID.Malformed")
        found = self._visible(region, set(ids))
        missing = sorted(set(ids) - {i.instance_id for i in found})
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise SimError("not_found", "instance", f"The instance ID{plural} '{', '.join(missing)}' "
                           f"do{'' if plural else 'es'} not exist")
        return found

    def describe_instances(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        ids, size = a.get("InstanceIds"), a.get("MaxResults")
        if ids and size is not None:
            raise SimError("invalid", "MaxResults", "The parameter instancesSet cannot be used with the parameter "
                           "maxResults", code="InvalidParameterCombination")
        if size is not None and not 5 <= size <= 1000:
            raise SimError("invalid", "MaxResults", f"Value ({size}) for parameter maxResults is invalid. Expecting a "
                           "value between 5 and 1000.")
        if ids:
            self._known(region, ids)
        where = _predicate(a.get("Filters"), {
            "instance-id": lambda i: i.instance_id, "instance-type": lambda i: i.instance_type,
            "instance-state-name": lambda i: self._state(i)["Name"],
            "instance-state-code": lambda i: self._state(i)["Code"], "availability-zone": lambda i: i.zone,
            "vpc-id": lambda i: i.vpc_id, "subnet-id": lambda i: i.subnet_id, "image-id": lambda i: i.image_id,
            "private-ip-address": lambda i: i.ip_inner, "ip-address": lambda i: i.ip_outer,
            "client-token": lambda i: i.client_token, "instance.group-id": lambda i: i.security_group_ids,
            "reservation-id": lambda i: i.group_id,
            "instance-lifecycle": lambda i: "spot" if i.extra.get("spot_strategy") == "spot" else None})
        _, chunk, more = self.cloud.instance_page(
            PROVIDER, region, ids=set(ids) if ids else None, where=where, after_seq=token_seq(a.get("NextToken")),
            limit=size, deleted_since=time.time() - TERMINATED_VISIBLE)
        token = seq_token(chunk[-1].seq) if more else None
        reservations: dict = {}
        groups = self._group_names(region)
        for i in chunk:
            reservations.setdefault(i.group_id, []).append(self._instance(i, groups))
        return {"Reservations": [{"ReservationId": rid, "OwnerId": OWNER, "Groups": [], "Instances": insts}
                                 for rid, insts in reservations.items()], "NextToken": token}

    def terminate_instances(self, call: Call) -> dict:
        region = self._region(call)
        ids = list(dict.fromkeys(call.params["InstanceIds"]))
        self._known(region, ids)
        if call.params.get("DryRun"):
            raise SimError("dry_run", "request")
        before = {i.instance_id: i for i in self.cloud.delete_instances(PROVIDER, ids)}
        out = []
        for iid in ids:
            if iid in before:
                previous, current = self._state(before[iid]), self._state(before[iid], "shutting-down")
            else:
                previous = current = {"Code": 48, "Name": "terminated"}
            out.append({"InstanceId": iid, "CurrentState": current, "PreviousState": previous})
        return {"TerminatingInstances": out}

    # ---------------------------------------------------------------- catalogue
    def describe_regions(self, call: Call) -> dict:
        regions = self.cloud.catalogue(PROVIDER).regions
        wanted = call.params.get("RegionNames")
        return {"Regions": [{"RegionName": r.region_id, "Endpoint": f"ec2.{r.region_id}.amazonaws.com",
                             "OptInStatus": "opt-in-not-required"}
                            for r in regions if not wanted or r.region_id in wanted]}

    def describe_zones(self, call: Call) -> dict:
        region = self._region(call)
        zones = self.cloud.catalogue(PROVIDER).region(region).zones
        wanted = call.params.get("ZoneNames")
        return {"AvailabilityZones": [
            {"ZoneName": z.zone_id, "ZoneId": z.number, "State": "available", "RegionName": region,
             "ZoneType": "availability-zone", "GroupName": region, "NetworkBorderGroup": region,
             "OptInStatus": "opt-in-not-required", "Messages": []}
            for z in zones if not wanted or z.zone_id in wanted]}

    def describe_instance_types(self, call: Call) -> dict:
        a = call.params
        types = list(self.cloud.catalogue(PROVIDER).instance_types)
        if a.get("InstanceTypes"):
            unknown = set(a["InstanceTypes"]) - {t.name for t in types}
            if unknown:
                raise SimError("invalid", "InstanceTypes", f"The following supplied instance types do not exist: "
                               f"[{', '.join(sorted(unknown))}]", code="InvalidInstanceType")
            types = [t for t in types if t.name in a["InstanceTypes"]]
        types = _filter(types, a.get("Filters"), {"instance-type": lambda t: t.name,
                                                  "vcpu-info.default-vcpus": lambda t: t.cores,
                                                  "memory-info.size-in-mib": lambda t: int(t.memory_gb * 1024)})
        size = a.get("MaxResults") or 100
        start = int(a.get("NextToken") or 0)
        chunk = types[start:start + size]
        return {"NextToken": str(start + size) if start + size < len(types) else None, "InstanceTypes": [
            {"InstanceType": t.name, "CurrentGeneration": True, "FreeTierEligible": t.name == "t3.micro",
             "SupportedUsageClasses": ["on-demand", "spot"], "SupportedRootDeviceTypes": ["ebs"],
             "ProcessorInfo": {"SupportedArchitectures": [t.arch]},
             "VCpuInfo": {"DefaultVCpus": t.cores, "DefaultCores": max(1, t.cores // 2), "DefaultThreadsPerCore": 2},
             "MemoryInfo": {"SizeInMiB": int(t.memory_gb * 1024)}} for t in chunk]}

    def describe_type_offerings(self, call: Call) -> dict:
        region = self._region(call)
        cat = self.cloud.catalogue(PROVIDER)
        location_type = call.params.get("LocationType", "region")
        if location_type == "region":
            rows = [(t.name, region) for t in cat.instance_types]
        else:
            rows = [(t.name, z.zone_id if location_type == "availability-zone" else z.number)
                    for z in cat.region(region).zones for t in cat.instance_types
                    if self.cloud.stock_left(PROVIDER, z.zone_id, t.name) > 0]
        rows = _filter(rows, call.params.get("Filters"), {"instance-type": lambda r: r[0], "location": lambda r: r[1]})
        return {"InstanceTypeOfferings": [{"InstanceType": t, "LocationType": location_type, "Location": loc}
                                          for t, loc in rows]}

    def describe_images(self, call: Call) -> dict:
        a = call.params
        images = list(self.cloud.catalogue(PROVIDER).images)
        if a.get("ImageIds"):
            unknown = set(a["ImageIds"]) - {i.image_id for i in images}
            if unknown:
                raise SimError("not_found", "image", f"The image id '[{', '.join(sorted(unknown))}]' does not exist")
            images = [i for i in images if i.image_id in a["ImageIds"]]

        images = _filter(images, a.get("Filters"), {
            "image-id": lambda i: i.image_id, "name": lambda i: i.name, "architecture": lambda i: i.arch,
            "platform": lambda i: "windows" if i.os_type == "windows" else None, "state": lambda i: "available",
            "owner-alias": lambda i: "amazon"})
        return {"Images": [
            {"ImageId": i.image_id, "ImageLocation": f"amazon/{i.name}", "State": "available",
             "OwnerId": "137112412989",
             "Public": True, "Architecture": i.arch, "ImageType": "machine", "Name": i.name, "Description": i.os_name,
             "RootDeviceType": "ebs", "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm", "Hypervisor": "xen",
             "PlatformDetails": i.platform if i.os_type != "windows" else "Windows",
             "Platform": "windows" if i.os_type == "windows" else None, "CreationDate": "2022-01-12T00:00:00.000Z",
             "ImageOwnerAlias": "amazon", "EnaSupport": True} for i in images]}

    # ---------------------------------------------------------------- network
    def _vpc(self, v) -> dict:
        return {"VpcId": v.vpc_id, "CidrBlock": v.cidr, "State": "available", "DhcpOptionsId": "dopt-7a8b9c2d",
                "InstanceTenancy": "default", "IsDefault": v.is_default, "OwnerId": OWNER,
                "Tags": _tag_list(v.tags) or None,
                "CidrBlockAssociationSet": [{"AssociationId": "vpc-cidr-assoc-" + v.vpc_id[4:], "CidrBlock": v.cidr,
                                             "CidrBlockState": {"State": "associated"}}]}

    def create_vpc(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        if not a.get("CidrBlock"):
            raise SimError("missing", "CidrBlock", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
        tags = _tags(a.get("TagSpecifications"), "vpc")
        vpc = self.cloud.create_vpc(PROVIDER, region, a["CidrBlock"], tags.get("Name", ""), tags=tags)
        # every AWS VPC comes with a "default" group that allows all egress and cannot be deleted alone
        group = self.cloud.create_security_group(PROVIDER, region, vpc.vpc_id, "default", "default VPC security group")
        self.cloud.add_rules(PROVIDER, region, group.group_id, [SimRule("egress", "all", cidr="0.0.0.0/0")])
        return {"Vpc": self._vpc(vpc)}

    def describe_vpcs(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        ids = a.get("VpcIds")
        vpcs = self.cloud.vpcs(PROVIDER, region, set(ids) if ids else None)
        missing = sorted(set(ids or []) - {v.vpc_id for v in vpcs})
        if missing:
            raise SimError("not_found", "vpc", f"The vpc ID '{missing[0]}' does not exist")
        vpcs = _filter(vpcs, a.get("Filters"), {
            "vpc-id": lambda v: v.vpc_id, "cidr": lambda v: v.cidr, "cidr-block": lambda v: v.cidr,
            "cidr-block-association.cidr-block": lambda v: v.cidr, "is-default": lambda v: str(v.is_default).lower(),
            "state": lambda v: "available", "owner-id": lambda v: OWNER})
        return {"Vpcs": [self._vpc(v) for v in vpcs]}

    def delete_vpc(self, call: Call) -> dict:
        self.cloud.delete_vpc(PROVIDER, self._region(call), call.params["VpcId"], with_groups_named=("default",))
        return {}

    def _subnet(self, s) -> dict:
        zone = self.cloud.catalogue(PROVIDER).zone(s.region, s.zone)
        return {"SubnetId": s.subnet_id, "VpcId": s.vpc_id, "CidrBlock": s.cidr, "AvailabilityZone": s.zone,
                "AvailabilityZoneId": zone.number if zone else "", "AvailableIpAddressCount": s.available_ips,
                "State": "available", "MapPublicIpOnLaunch": False, "DefaultForAz": False, "OwnerId": OWNER,
                "AssignIpv6AddressOnCreation": False, "Tags": _tag_list(s.tags) or None,
                "SubnetArn": f"arn:aws:ec2:{s.region}:{OWNER}:subnet/{s.subnet_id}"}

    def create_subnet(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        if not a.get("CidrBlock"):
            raise SimError("missing", "CidrBlock", "The request must contain the parameter CidrBlock")
        zone = a.get("AvailabilityZone") or self.cloud.catalogue(PROVIDER).region(region).zones[0].zone_id
        tags = _tags(a.get("TagSpecifications"), "subnet")
        subnet = self.cloud.create_subnet(PROVIDER, region, a["VpcId"], zone, a["CidrBlock"], tags.get("Name", ""),
                                          tags=tags)
        return {"Subnet": self._subnet(subnet)}

    def describe_subnets(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        ids = a.get("SubnetIds")
        subnets = self.cloud.subnets(PROVIDER, region, ids=set(ids) if ids else None)
        missing = sorted(set(ids or []) - {s.subnet_id for s in subnets})
        if missing:
            raise SimError("not_found", "subnet", f"The subnet ID '{missing[0]}' does not exist")
        subnets = _filter(subnets, a.get("Filters"), {
            "vpc-id": lambda s: s.vpc_id, "subnet-id": lambda s: s.subnet_id, "availability-zone": lambda s: s.zone,
            "cidr-block": lambda s: s.cidr, "cidr": lambda s: s.cidr, "default-for-az": lambda s: "false",
            "state": lambda s: "available"})
        return {"Subnets": [self._subnet(s) for s in subnets]}

    def delete_subnet(self, call: Call) -> dict:
        self.cloud.delete_subnet(PROVIDER, self._region(call), call.params["SubnetId"])
        return {}

    def create_security_group(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        if not a.get("VpcId"):
            raise SimError("missing", "VpcId", "No default VPC for this user.", code="VPCIdNotSpecified")
        group = self.cloud.create_security_group(PROVIDER, region, a["VpcId"], a["GroupName"], a["Description"],
                                                 tags=_tags(a.get("TagSpecifications"), "security-group"),
                                                 unique_name=True)
        self.cloud.add_rules(PROVIDER, region, group.group_id, [SimRule("egress", "all", cidr="0.0.0.0/0")])
        return {"GroupId": group.group_id, "Tags": _tag_list(group.tags) or None,
                "SecurityGroupArn": f"arn:aws:ec2:{region}:{OWNER}:security-group/{group.group_id}"}

    @staticmethod
    def _rules(a: dict, direction: str) -> list:
        perms = a.get("IpPermissions") or []
        if not perms and a.get("IpProtocol"):
            perms = [{"IpProtocol": a["IpProtocol"], "FromPort": a.get("FromPort"), "ToPort": a.get("ToPort"),
                      "IpRanges": [{"CidrIp": a["CidrIp"]}] if a.get("CidrIp") else []}]
        rules = []
        for perm in perms:
            proto = _PROTOCOLS.get(str(perm.get("IpProtocol", "")).lower())
            if proto is None:
                raise SimError("invalid", "IpProtocol", f"Invalid IP protocol '{perm.get('IpProtocol')}'",
                               code="InvalidParameterValue")
            low = -1 if proto == "all" else perm.get("FromPort", -1)
            high = -1 if proto == "all" else perm.get("ToPort", low)
            for r in perm.get("IpRanges") or []:
                rules.append(SimRule(direction, proto, low, high, cidr=r.get("CidrIp"),
                                     description=r.get("Description", "")))
            for pair in perm.get("UserIdGroupPairs") or []:
                rules.append(SimRule(direction, proto, low, high, group_id=pair.get("GroupId"),
                                     description=pair.get("Description", "")))
        if not rules:
            raise SimError("missing", "IpPermissions", "The request must contain the parameter ipPermissions")
        return rules

    def _authorize(self, call: Call, direction: str) -> dict:
        a = call.params
        region = self._region(call)
        if not a.get("GroupId"):
            raise SimError("missing", "GroupId", "No default VPC for this user", code="VPCIdNotSpecified")
        added = self.cloud.add_rules(PROVIDER, region, a["GroupId"], self._rules(a, direction), duplicate_error=True)
        return {"Return": True, "SecurityGroupRules": [
            {"SecurityGroupRuleId": r.rule_id, "GroupId": a["GroupId"], "GroupOwnerId": OWNER,
             "IsEgress": direction == "egress", "IpProtocol": "-1" if r.protocol == "all" else r.protocol,
             "FromPort": r.from_port, "ToPort": r.to_port, "CidrIpv4": r.cidr,
             "ReferencedGroupInfo": {"GroupId": r.group_id, "UserId": OWNER} if r.group_id else None,
             "Description": r.description or None} for r in added]}

    def authorize_ingress(self, call: Call) -> dict:
        return self._authorize(call, "ingress")

    def authorize_egress(self, call: Call) -> dict:
        return self._authorize(call, "egress")

    @staticmethod
    def _permissions(rules: list) -> list:
        merged: dict = {}
        for r in rules:
            perm = merged.setdefault((r.protocol, r.from_port, r.to_port), {
                "IpProtocol": "-1" if r.protocol == "all" else r.protocol,
                "FromPort": None if r.protocol == "all" else r.from_port,
                "ToPort": None if r.protocol == "all" else r.to_port,
                "IpRanges": [], "UserIdGroupPairs": [], "Ipv6Ranges": [], "PrefixListIds": []})
            if r.cidr:
                perm["IpRanges"].append({"CidrIp": r.cidr, "Description": r.description or None})
            if r.group_id:
                perm["UserIdGroupPairs"].append({"GroupId": r.group_id, "UserId": OWNER,
                                                 "Description": r.description or None})
        return list(merged.values())

    def describe_security_groups(self, call: Call) -> dict:
        a = call.params
        region = self._region(call)
        ids = a.get("GroupIds")
        groups = self.cloud.security_groups(PROVIDER, region, ids=set(ids) if ids else None)
        missing = sorted(set(ids or []) - {g.group_id for g in groups})
        if missing:
            raise SimError("not_found", "security_group", f"The security group '{missing[0]}' does not exist")
        if a.get("GroupNames"):
            groups = [g for g in groups if g.name in a["GroupNames"]]
        groups = _filter(groups, a.get("Filters"), {
            "vpc-id": lambda g: g.vpc_id, "group-name": lambda g: g.name, "group-id": lambda g: g.group_id,
            "description": lambda g: g.description, "owner-id": lambda g: OWNER})
        return {"SecurityGroups": [
            {"GroupId": g.group_id, "GroupName": g.name, "Description": g.description, "VpcId": g.vpc_id,
             "OwnerId": OWNER, "Tags": _tag_list(g.tags) or None,
             "IpPermissions": self._permissions([r for r in g.rules if r.direction == "ingress"]),
             "IpPermissionsEgress": self._permissions([r for r in g.rules if r.direction == "egress"]),
             "SecurityGroupArn": f"arn:aws:ec2:{region}:{OWNER}:security-group/{g.group_id}"} for g in groups]}

    def delete_security_group(self, call: Call) -> dict:
        region = self._region(call)
        gid = call.params.get("GroupId")
        if not gid:
            raise SimError("missing", "GroupId", "No default VPC for this user", code="VPCIdNotSpecified")
        found = self.cloud.security_groups(PROVIDER, region, ids={gid})
        if found and found[0].name == "default":
            raise SimError("invalid", "GroupId", f'the specified group: "{gid}" name: "default" cannot be deleted '
                           "by a user", code="CannotDelete")
        self.cloud.delete_security_group(PROVIDER, region, gid)
        return {}

    def create_tags(self, call: Call) -> dict:
        self._region(call)
        self.cloud.tag(PROVIDER, call.params["Resources"],
                       {t["Key"]: t.get("Value", "") for t in call.params["Tags"]})
        return {}

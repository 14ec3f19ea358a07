"""Network requests and responses. Every rule of the contract is checked here, before any cloud
call, and a failure names its field (`rules.3.port_range`)."""
from __future__ import annotations

import ipaddress
import re

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from app.core.ids import check_location
from app.core.paging import PageArgs, PascalPagerSchema
from app.providers.base import PROVIDERS

VPC_PARENTS = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
DEFAULT_VPC_CIDR = "172.16.0.0/12"
PROTOCOLS = ("tcp", "udp", "icmp", "gre", "all")
PORTLESS = "-1/-1"  # the port range of icmp, gre and all
MAX_RULES = 200
GROUP_TYPES = ("normal", "enterprise")
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CIDR_SHAPE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")
ID = validate.Length(min=1, max=64)
KEY = validate.Length(min=1, max=128)


def parse_cidr(value: str) -> ipaddress.IPv4Network:
    """An IPv4 block written `a.b.c.d/n` with no host bits set; ValidationError otherwise."""
    if not isinstance(value, str) or not CIDR_SHAPE.match(value):
        raise ValidationError("must be an IPv4 CIDR block like 172.16.0.0/12")
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise ValidationError(f"is not a valid CIDR block: {exc}")


def check_vpc_cidr(value: str) -> None:
    net = parse_cidr(value)
    if not 8 <= net.prefixlen <= 24:
        raise ValidationError("mask must be between 8 and 24")
    if not any(net.subnet_of(parent) for parent in VPC_PARENTS):
        raise ValidationError("must be inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")


def check_subnet_cidr(value: str) -> None:
    if not 16 <= parse_cidr(value).prefixlen <= 29:
        raise ValidationError("mask must be between 16 and 29")


def inside(subnet_cidr: str, vpc_cidr: str) -> bool:
    """Whether a (valid) subnet block lies inside a VPC block; False when the VPC's is unknown."""
    try:
        return ipaddress.IPv4Network(subnet_cidr).subnet_of(ipaddress.IPv4Network(vpc_cidr))
    except ValueError:
        return False


def name_rule(extra: str):
    """2–128 characters starting with a letter or CJK character; then letters, CJK, digits, `extra`."""
    body = re.compile(rf"^[A-Za-z0-9{CJK}{re.escape(extra)}]*$")

    def check(value: str) -> None:
        if not 2 <= len(value) <= 128:
            raise ValidationError("must be 2 to 128 characters long")
        if value.lower().startswith(("http://", "https://")):
            raise ValidationError("must not start with http:// or https://")
        if not re.match(rf"[A-Za-z{CJK}]", value):
            raise ValidationError("must start with a letter or a Chinese character")
        if not body.match(value):
            raise ValidationError(f"may only contain letters, Chinese characters, digits and {' '.join(extra)}")
    return check


check_vpc_name = name_rule("._-")
check_subnet_name = name_rule("._-")
check_group_name = name_rule("._-:")


def check_ip(value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValidationError("must be an IPv4 address")


def check_peer_cidr(value: str) -> None:
    """A rule's peer: an address or a block (0.0.0.0/0 for everyone)."""
    try:
        ipaddress.IPv4Network(value)
    except ValueError:
        raise ValidationError("must be an IPv4 address or CIDR block like 10.0.0.0/8")


# ---------------------------------------------------------------- requests
ANYONE = "0.0.0.0/0"


class RuleSchema(Schema):
    """One rule; `port_from`/`port_to` (the template's and BridgX's spelling) are accepted for
    `port_range`. A rule naming no peer (ComandX's dialog has no peer box) is open to everyone,
    `cidr_ip` 0.0.0.0/0; naming both is a 400."""

    protocol = fields.String(required=True, validate=validate.OneOf(PROTOCOLS))
    port_range = fields.String()
    port_from = fields.Integer(strict=True, load_only=True)
    port_to = fields.Integer(strict=True, load_only=True)
    direction = fields.String(required=True, validate=validate.OneOf(["ingress", "egress"]))
    group_id = fields.String(load_default="", allow_none=True, validate=validate.Length(max=64))
    cidr_ip = fields.String(load_default="", allow_none=True)
    prefix_list_id = fields.String(load_default="", allow_none=True, validate=validate.Length(max=64))

    @validates_schema
    def _rule(self, data, **kwargs):
        self._port_range(data)
        group_id, cidr_ip = data.get("group_id") or "", data.get("cidr_ip") or ""
        if group_id and cidr_ip:
            reason = "give at most one of group_id and cidr_ip"
            raise ValidationError({"group_id": [reason], "cidr_ip": [reason]})
        if cidr_ip:
            try:
                check_peer_cidr(cidr_ip)
            except ValidationError as exc:
                raise ValidationError(exc.messages, "cidr_ip")

    @staticmethod
    def _port_range(data: dict) -> None:
        protocol = data.get("protocol")
        if "port_range" not in data:
            if "port_from" not in data or "port_to" not in data:
                raise ValidationError("required (or port_from and port_to)", "port_range")
            low, high = data["port_from"], data["port_to"]
            portless = protocol not in ("tcp", "udp") and {low, high} <= {0, -1}
            data["port_range"] = PORTLESS if portless else f"{low}/{high}"
        value = data["port_range"]
        if protocol in ("tcp", "udp"):
            match = re.fullmatch(r"(\d{1,5})/(\d{1,5})", value)
            if not match or not 1 <= int(match[1]) <= int(match[2]) <= 65535:
                raise ValidationError(f"{protocol} needs from/to with 1 <= from <= to <= 65535, e.g. 22/22",
                                      "port_range")
        elif value != PORTLESS:
            raise ValidationError(f"{protocol} rules use {PORTLESS}", "port_range")

    @post_load
    def _normalise(self, data, **kwargs):
        group_id = data.get("group_id") or ""
        return {"protocol": data["protocol"], "port_range": data["port_range"], "direction": data["direction"],
                "group_id": group_id, "cidr_ip": data.get("cidr_ip") or ("" if group_id else ANYONE),
                "prefix_list_id": data.get("prefix_list_id") or ""}


RULES = dict(validate=validate.Length(max=MAX_RULES, error=f"at most {MAX_RULES} rules per group"))


def drop_empty(data, keys: tuple) -> dict:
    """BridgX clients send optional fields empty (`"gateway_ip": ""`): the same as absent."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not (k in keys and v in ("", None))}
    return data


def drop_blank_rules(data) -> dict:
    """ComandX's security-group dialog always sends its blank row (`protocol: ""`, ports 0):
    BridgX adds no rule for it, and neither do we."""
    if isinstance(data, dict) and isinstance(data.get("rules"), list):
        data = dict(data, rules=[r for r in data["rules"] if not (isinstance(r, dict) and r.get("protocol") == "")])
    return data


class VpcCreateSchema(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(required=True, validate=check_location)
    cidr_block = fields.String(load_default=DEFAULT_VPC_CIDR, validate=check_vpc_cidr)
    vpc_name = fields.String(required=True, validate=check_vpc_name)
    ak = fields.String(required=True, validate=KEY)


class SubnetCreateSchema(Schema):
    """The manual's fields, plus ComandX's `provider` and `region_id` (checked against the VPC's)."""

    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(validate=check_location)
    account_key = fields.String(validate=KEY)
    zone_id = fields.String(required=True, validate=check_location)
    cidr_block = fields.String(required=True, validate=check_subnet_cidr)
    vpc_id = fields.String(required=True, validate=ID)
    switch_name = fields.String(required=True, validate=check_subnet_name)
    gateway_ip = fields.String(validate=check_ip)

    @pre_load
    def _empty(self, data, **kwargs):
        return drop_empty(data, ("gateway_ip", "provider", "region_id", "account_key"))

    @validates_schema
    def _gateway(self, data, **kwargs):
        check_gateway(data, "cidr_block")


def check_gateway(data: dict, cidr_field: str) -> None:
    gateway, cidr = data.get("gateway_ip"), data.get(cidr_field)
    if gateway and cidr and ipaddress.IPv4Address(gateway) not in ipaddress.IPv4Network(cidr):
        raise ValidationError(f"must be inside {cidr_field} {cidr}", "gateway_ip")


class SecurityGroupOnlySchema(Schema):
    """security_group/create (BridgX): a group with no rules; `region_id` is checked against the VPC's."""

    account_key = fields.String(validate=KEY)
    region_id = fields.String(validate=check_location)
    vpc_id = fields.String(required=True, validate=ID)
    security_group_name = fields.String(required=True, validate=check_group_name)
    security_group_type = fields.String(load_default="normal", validate=validate.OneOf(GROUP_TYPES))

    @pre_load
    def _empty(self, data, **kwargs):
        return drop_blank_rules(drop_empty(data, ("account_key", "region_id", "security_group_type")))


class SecurityGroupCreateSchema(SecurityGroupOnlySchema):
    rules = fields.List(fields.Nested(RuleSchema), required=True, **RULES)


class RuleAddSchema(Schema):
    """security_group/rule/add: BridgX's `rules` list, or ComandX's helper's one flat rule."""

    account_key = fields.String(validate=KEY)
    region_id = fields.String(validate=check_location)
    vpc_id = fields.String(validate=ID)
    security_group_id = fields.String(required=True, validate=ID)
    rules = fields.List(fields.Nested(RuleSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_RULES))

    @pre_load
    def _flat(self, data, **kwargs):
        data = drop_empty(data, ("account_key", "region_id", "vpc_id"))
        flat = ("protocol", "port_range", "port_from", "port_to", "direction", "group_id", "cidr_ip", "prefix_list_id")
        if isinstance(data, dict) and "rules" not in data and any(k in data for k in flat):
            data = dict(data)
            data["rules"] = [{k: data.pop(k) for k in flat if k in data}]
        return drop_blank_rules(data)


class NetworkConfigCreateSchema(Schema):
    """network_config/create; also accepts what network_config/template returns (gateway_ip, rules)."""

    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(required=True, validate=check_location)
    cidr_block = fields.String(required=True, validate=check_vpc_cidr)
    vpc_name = fields.String(required=True, validate=check_vpc_name)
    zone_id = fields.String(required=True, validate=check_location)
    switch_cidr_block = fields.String(required=True, validate=check_subnet_cidr)
    switch_name = fields.String(required=True, validate=check_subnet_name)
    gateway_ip = fields.String(validate=check_ip)
    security_group_name = fields.String(required=True, validate=check_group_name)
    security_group_type = fields.String(required=True, validate=validate.OneOf(GROUP_TYPES))
    ak = fields.String(required=True, validate=KEY)
    rules = fields.List(fields.Nested(RuleSchema), **RULES)

    @validates_schema
    def _switch_inside_vpc(self, data, **kwargs):
        if "cidr_block" in data and "switch_cidr_block" in data \
                and not inside(data["switch_cidr_block"], data["cidr_block"]):
            raise ValidationError(f"must be inside the VPC's cidr_block {data['cidr_block']}", "switch_cidr_block")
        check_gateway(data, "switch_cidr_block")


class SyncSchema(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(required=True, validate=check_location)
    account_key = fields.String(required=True, validate=KEY)


class TemplateArgs(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))


class VpcListArgs(PageArgs):
    account_key = fields.String(validate=KEY)
    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(validate=check_location)
    vpc_name = fields.String()


class SubnetListArgs(PageArgs):
    vpc_id = fields.String(required=True, validate=ID)
    zone_id = fields.String(validate=check_location)
    switch_name = fields.String()


class SecurityGroupListArgs(PageArgs):
    account_key = fields.String(validate=KEY)
    region_id = fields.String(validate=check_location)
    vpc_id = fields.String(required=True, validate=ID)
    security_group_name = fields.String()


class SubnetInfoArgs(Schema):
    vpc_id = fields.String()


# ---------------------------------------------------------------- responses (the manual's keys)
class VpcSchema(Schema):
    VpcId = fields.String()
    VpcName = fields.String()
    CidrBlock = fields.String()
    SwitchIds = fields.String()  # comma-separated, as the manual's example (a string)
    Provider = fields.String()
    Status = fields.String()
    CreateAt = fields.String()


class VpcInfoSchema(VpcSchema):
    class Meta:
        exclude = ("SwitchIds",)


class VpcListSchema(Schema):
    Vpcs = fields.List(fields.Nested(VpcSchema))
    Pager = fields.Nested(PascalPagerSchema)


class SubnetSchema(Schema):
    VpcId = fields.String()
    SwitchId = fields.String()
    ZoneId = fields.String()
    SwitchName = fields.String()
    CidrBlock = fields.String()
    GatewayIp = fields.String()
    VStatus = fields.String()
    CreateAt = fields.String()
    IsDefault = fields.String()  # "Y" / "N"
    AvailableIpAddressCount = fields.Integer()


class SubnetListSchema(Schema):
    Switches = fields.List(fields.Nested(SubnetSchema))
    Pager = fields.Nested(PascalPagerSchema)


class GroupSchema(Schema):
    VpcId = fields.String()
    SecurityGroupId = fields.String()
    SecurityGroupName = fields.String()
    SecurityGroupType = fields.String()
    CreateAt = fields.String()


class GroupListSchema(Schema):
    Groups = fields.List(fields.Nested(GroupSchema))
    Pager = fields.Nested(PascalPagerSchema)


class RuleOutSchema(Schema):
    protocol = fields.String()
    port_range = fields.String()
    direction = fields.String()
    group_id = fields.String()
    cidr_ip = fields.String()
    prefix_list_id = fields.String()


class GroupRulesSchema(Schema):
    security_group_id = fields.String()
    security_group_name = fields.String()
    security_group_type = fields.String()
    rules = fields.List(fields.Nested(RuleOutSchema))


class TemplateRuleSchema(Schema):
    protocol = fields.String()
    port_from = fields.Integer()
    port_to = fields.Integer()
    direction = fields.String()
    group_id = fields.String()
    cidr_ip = fields.String()
    prefix_list_id = fields.String()


class TemplateSchema(Schema):
    provider = fields.String()
    region_id = fields.String()
    cidr_block = fields.String()
    vpc_name = fields.String()
    zone_id = fields.String()
    switch_cidr_block = fields.String()
    gateway_ip = fields.String()
    switch_name = fields.String()
    security_group_name = fields.String()
    security_group_type = fields.String()
    ak = fields.String()
    rules = fields.List(fields.Nested(TemplateRuleSchema))

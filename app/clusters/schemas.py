"""Cluster template validation; each rule names its field in the 400."""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.core.ids import Id, check_location
from app.core.paging import PageArgs, PagerSchema
from app.providers.base import PROVIDERS

SPECIALS = "()`~!@#$%^&*_-+=|{}[]:;'<>,.?/"
WEEK_PERIODS = (1, 2, 3, 4)
MONTH_PERIODS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60)
NAME = validate.Length(min=1, max=128)
CLOUD_ID = validate.Length(min=1, max=64)  # region, zone and instance type columns are 64 wide


def check_password(value: str) -> None:
    """The clouds' common rule: 8–30 characters, at least three of upper, lower, digit, special."""
    if not 8 <= len(value) <= 30:
        raise ValidationError("must be 8 to 30 characters long")
    bad = {c for c in value if not (c.isascii() and (c.isalnum() or c in SPECIALS))}
    if bad:
        raise ValidationError(f"may only contain letters, digits and {SPECIALS}")
    classes = [any(c.isupper() for c in value), any(c.islower() for c in value),
               any(c.isdigit() for c in value), any(c in SPECIALS for c in value)]
    if sum(classes) < 3:
        raise ValidationError("needs at least three of: upper case, lower case, digit, special character")


class NetworkConfigSchema(Schema):
    vpc = fields.String(required=True, validate=NAME)
    subnet_id = fields.String(required=True, validate=NAME)
    security_group = fields.String(required=True, validate=NAME)
    internet_charge_type = fields.String(validate=validate.OneOf(["PayByTraffic", "PayByBandwidth"]))
    internet_max_bandwidth_out = fields.Integer(validate=validate.Range(min=0, max=1000))


class ChargeConfigSchema(Schema):
    charge_type = fields.String(required=True, validate=validate.OneOf(["PostPaid", "PrePaid"]))
    period_unit = fields.String(validate=validate.OneOf(["Week", "Month"]))
    period = fields.Integer(strict=True)

    @validates_schema
    def _prepaid(self, data, **kwargs):
        if data["charge_type"] != "PrePaid":
            return
        unit = data.get("period_unit")
        if unit is None:
            raise ValidationError("required when charge_type is PrePaid", "period_unit")
        allowed = WEEK_PERIODS if unit == "Week" else MONTH_PERIODS
        if data.get("period") not in allowed:
            raise ValidationError(f"with period_unit {unit} must be one of {list(allowed)}", "period")


class DiskSchema(Schema):
    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=32768))


class SystemDiskSchema(DiskSchema):
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=20, max=2048))


class DisksSchema(Schema):
    system_disk = fields.Nested(SystemDiskSchema, required=True)
    data_disk = fields.List(fields.Nested(DiskSchema), load_default=list, validate=validate.Length(max=16))


def check_tags(value) -> None:
    if value is None or isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return
    if isinstance(value, list) and all(isinstance(t, dict) and set(t) == {"key", "value"}
                                       and isinstance(t["key"], str) and isinstance(t["value"], str) for t in value):
        return
    raise ValidationError('must be {"key": "value", ...} or [{"key": ..., "value": ...}]')


class ClusterFields(Schema):
    """Fields a template has; create requires most of them, edit none."""

    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(validate=check_location)
    zone_id = fields.String(validate=check_location)
    network_config = fields.Nested(NetworkConfigSchema)
    instance_type = fields.String(validate=CLOUD_ID)
    charge_config = fields.Nested(ChargeConfigSchema)
    charge_type = fields.String(validate=validate.OneOf(["PostPaid", "PrePaid"]))
    image = fields.String(validate=validate.Length(min=1, max=255))
    disks = fields.Nested(DisksSchema)
    password = fields.String(load_only=True, validate=check_password)
    account_key = fields.String(validate=NAME)
    desc = fields.String(allow_none=True, validate=validate.Length(max=512))
    tags = fields.Raw(allow_none=True, validate=check_tags)

    @validates_schema
    def _charge_type_agrees(self, data, **kwargs):
        top, nested = data.get("charge_type"), (data.get("charge_config") or {}).get("charge_type")
        if top and nested and top != nested:
            raise ValidationError("disagrees with charge_config.charge_type", "charge_type")


class ClusterCreateSchema(ClusterFields):
    name = fields.String(required=True, validate=NAME)
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    region_id = fields.String(required=True, validate=check_location)
    zone_id = fields.String(required=True, validate=check_location)
    network_config = fields.Nested(NetworkConfigSchema, required=True)
    instance_type = fields.String(required=True, validate=CLOUD_ID)
    image = fields.String(required=True, validate=validate.Length(min=1, max=255))
    disks = fields.Nested(DisksSchema, required=True)
    password = fields.String(required=True, load_only=True, validate=check_password)
    account_key = fields.String(required=True, validate=NAME)

    @validates("name")
    def _name(self, value, **kwargs):
        if not value.strip() or re.search(r"[\x00-\x1f/]", value):
            raise ValidationError("must not be blank or contain control characters or '/'")


class ClusterEditSchema(ClusterFields):
    cluster_id = Id()
    name = fields.String(validate=NAME)

    @validates_schema
    def _target(self, data, **kwargs):
        if "cluster_id" not in data and "name" not in data:
            raise ValidationError("give cluster_id (or name) of the cluster to edit", "cluster_id")


class ClusterListArgs(PageArgs):
    account = fields.String()


class ClusterSummarySchema(Schema):
    cluster_id = fields.String()
    cluster_name = fields.String()
    provider = fields.String()
    account = fields.String()
    create_at = fields.String()
    create_by = fields.String()


class ClusterListSchema(Schema):
    cluster_list = fields.List(fields.Nested(ClusterSummarySchema))
    pager = fields.Nested(PagerSchema)


class ClusterDetailSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    provider = fields.String()
    account_key = fields.String()
    region_id = fields.String()
    zone_id = fields.String()
    instance_type = fields.String()
    image = fields.String()
    network_config = fields.Dict()
    charge_config = fields.Dict()
    disks = fields.Dict()
    desc = fields.String()
    tags = fields.Raw(allow_none=True)
    create_at = fields.String()
    create_by = fields.String()
    update_at = fields.String()

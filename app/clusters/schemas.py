"""Cluster template validation; each rule names its field in the 400."""
import re

from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate, validates, validates_schema

from app.core.ids import Id, check_location
from app.core.paging import PageArgs, PagerSchema
from app.providers.base import PROVIDERS

SPECIALS = "()`~!@#$%^&*_-+=|{}[]:;'<>,.?/"
WEEK_PERIODS = (1, 2, 3, 4)
MONTH_PERIODS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60)
YEAR_PERIODS = (1, 2, 3)
# every period some cloud sells (ComandX offers Huawei years and Tencent's months 10 and 11);
# clusters.service checks what the cluster's own cloud sells
PERIODS = {"Week": WEEK_PERIODS, "Month": tuple(sorted(MONTH_PERIODS + (10, 11))), "Year": YEAR_PERIODS}
INTERNET_IP_TYPES = ("5_telcom", "5_union", "5_bgp", "5_sbgp", "5_ipv6")
CLUSTER_TYPES = ("standard", "custom")
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
    internet_ip_type = fields.String(validate=validate.OneOf(INTERNET_IP_TYPES),
                                     metadata={"description": "BridgX: HuaweiCloud's EIP type"})

    @pre_load
    def _empty_is_absent(self, data, **kwargs):
        """BridgX clients send unset choices as "" (ComandX: `internet_ip_type` for Huawei)."""
        return _drop_empty(data, ("internet_charge_type", "internet_ip_type"))


def _drop_empty(data, keys):
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if not (k in keys and v in ("", None))}


class ChargeConfigSchema(Schema):
    charge_type = fields.String(required=True, validate=validate.OneOf(["PostPaid", "PrePaid"]))
    period_unit = fields.String(validate=validate.OneOf(["Week", "Month", "Year"]))
    period = fields.Integer(strict=True)

    @pre_load
    def _empty_is_absent(self, data, **kwargs):
        """BridgX's own answers carry `period: 0, period_unit: ""` for PostPaid."""
        data = _drop_empty(data, ("period_unit", "period"))
        if isinstance(data, dict) and data.get("period") == 0 and data.get("charge_type") != "PrePaid":
            data = {k: v for k, v in data.items() if k != "period"}
        return data

    @validates_schema
    def _prepaid(self, data, **kwargs):
        """Periods any cloud sells; the service narrows them to what the cluster's cloud sells."""
        if data["charge_type"] != "PrePaid":
            return
        unit = data.get("period_unit")
        if unit is None:
            raise ValidationError("required when charge_type is PrePaid", "period_unit")
        allowed = PERIODS[unit]
        if data.get("period") not in allowed:
            raise ValidationError(f"with period_unit {unit} must be one of {list(allowed)}", "period")


class DiskSchema(Schema):
    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=32768))
    performance_level = fields.String(load_only=True, validate=validate.Length(max=32),
                                      metadata={"description": "BridgX's field; accepted, not used"})

    @post_load
    def _unused(self, data, **kwargs):
        data.pop("performance_level", None)
        return data


class SystemDiskSchema(DiskSchema):
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=20, max=2048))


class DisksSchema(Schema):
    system_disk = fields.Nested(SystemDiskSchema, required=True)
    data_disk = fields.List(fields.Nested(DiskSchema), load_default=list, allow_none=True,
                            validate=validate.Length(max=16))

    @post_load
    def _list(self, data, **kwargs):
        data["data_disk"] = data.get("data_disk") or []
        return data


class StorageConfigSchema(Schema):
    """BridgX's storage_config: the disks (an alias of the manual's top-level `disks`) and mounts."""

    disks = fields.Nested(DisksSchema, allow_none=True)
    mount_point = fields.String(validate=validate.Length(max=255))
    nas = fields.String(validate=validate.Length(max=255))


class ImageConfigSchema(Schema):
    """BridgX's image_config; a non-empty `id` is the image (over the top-level `image`)."""

    id = fields.String(validate=validate.Length(max=255))
    name = fields.String(validate=validate.Length(max=255))
    type = fields.String(validate=validate.Length(max=32), metadata={"description": "global, private or shared"})
    platform = fields.String(validate=validate.Length(max=64))
    size = fields.Integer(validate=validate.Range(min=0, max=65536))


class ExtendConfigSchema(Schema):
    """BridgX's extend_config: what the console shows of the instance type."""

    core = fields.Integer(validate=validate.Range(min=0, max=100000))
    memory = fields.Float(validate=validate.Range(min=0, max=10**7), metadata={"description": "GiB"})
    cpu_type = fields.String(validate=validate.OneOf(["CPU", "GPU", ""]))


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
    # BridgX's body (ComandX's create and edit pages); normalised here, see _bridgx_shape
    storage_config = fields.Nested(StorageConfigSchema, metadata={"description": "BridgX: disks and mounts"})
    image_config = fields.Nested(ImageConfigSchema)
    extend_config = fields.Nested(ExtendConfigSchema)
    computing_power_type = fields.String(load_only=True, validate=validate.OneOf(["CPU", "GPU", ""]),
                                         metadata={"description": "BridgX's field; accepted, not used"})
    # BridgX's edit page sends back the whole cluster/name answer: these are accepted and ignored
    id = fields.Integer(load_only=True, metadata={"description": "ignored (BridgX's edit finds the cluster by name)"})
    cluster_type = fields.String(load_only=True, validate=validate.OneOf(CLUSTER_TYPES), metadata={"description": "ignored"})
    username = fields.String(load_only=True, validate=validate.Length(max=64), metadata={"description": "ignored"})
    create_at = fields.String(load_only=True, metadata={"description": "ignored"})
    create_by = fields.String(load_only=True, metadata={"description": "ignored"})
    update_at = fields.String(load_only=True, metadata={"description": "ignored"})
    update_by = fields.String(load_only=True, metadata={"description": "ignored"})

    IGNORED = ("computing_power_type", "id", "cluster_type", "username", "create_at", "create_by", "update_at",
               "update_by")

    @pre_load
    def _bridgx_shape(self, data, **kwargs):
        """BridgX's body → the manual's: `storage_config.disks` is `disks` (it wins: ComandX's edit
        page edits it and echoes a stale `disks`), a non-empty `image_config.id` is `image`, and an
        empty `password` (ComandX's edit page when none is typed) is no password."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("password") == "":
            del data["password"]
        storage = data.get("storage_config")
        if isinstance(storage, dict) and storage.get("disks") is not None:
            data["disks"] = storage["disks"]
        image = data.get("image_config")
        if isinstance(image, dict) and isinstance(image.get("id"), str) and image["id"]:
            data["image"] = image["id"]
        return data

    @post_load
    def _one_shape(self, data, **kwargs):
        for key in self.IGNORED:
            data.pop(key, None)
        storage = data.pop("storage_config", None)
        if storage is not None:
            storage.pop("disks", None)
            data["storage_options"] = storage
        return data

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


def drop_empty_query(data: dict, keys=None) -> dict:
    """An empty query value means "no filter" (BridgX; ComandX sends every filter, unused ones empty)."""
    return {k: v for k, v in data.items() if not (v == "" and (keys is None or k in keys))}


class ClusterListArgs(PageArgs):
    account = fields.String(validate=validate.Length(max=128), metadata={"description": "one access key"})
    cluster_name = fields.String(validate=validate.Length(max=128), metadata={"description": "substring"})
    provider = fields.String(validate=validate.Length(max=32),
                             metadata={"description": "exact; when empty, PrivateCloud clusters are left out"})
    cluster_type = fields.String(validate=validate.OneOf(CLUSTER_TYPES))
    usage = fields.String(validate=validate.Length(max=128), metadata={"description": "substring of the usage tag"})

    @pre_load
    def _bridgx_filters(self, data, **kwargs):
        data = drop_empty_query(dict(data), ("account", "cluster_name", "provider", "cluster_type", "usage"))
        if isinstance(data.get("cluster_type"), str):
            data["cluster_type"] = data["cluster_type"].lower()
        return data


class ExtendConfigOutSchema(Schema):
    core = fields.Integer()
    memory = fields.Raw(metadata={"description": "GiB (number)"})
    cpu_type = fields.String()


class ClusterSummarySchema(Schema):
    cluster_id = fields.String()
    cluster_name = fields.String()
    provider = fields.String()
    account = fields.String()
    create_at = fields.String()
    create_by = fields.String()
    # BridgX's ClusterThumb (what ComandX's list pages read)
    instance_count = fields.Integer(metadata={"description": "machines not deleted"})
    instance_type = fields.String(metadata={"description": "e.g. 2核8G(ecs.g6.large); \"\" for custom clusters"})
    charge_type = fields.String()
    usage = fields.String(metadata={"description": "the usage tag, \"unused\" by default"})
    extend_config = fields.Nested(ExtendConfigOutSchema)
    cluster_type = fields.String()
    desc = fields.String()
    update_at = fields.String()
    update_by = fields.String()


class ClusterListSchema(Schema):
    cluster_list = fields.List(fields.Nested(ClusterSummarySchema))
    pager = fields.Nested(PagerSchema)


class ClusterNumArgs(Schema):
    account = fields.String(validate=validate.Length(max=128), metadata={"description": "one access key; empty: all"})


class ClusterNumSchema(Schema):
    cluster_num = fields.Integer()


class InstanceStatArgs(Schema):
    cluster_name = fields.String(required=True, validate=validate.Length(min=1, max=128))


class InstanceStatSchema(Schema):
    instance_type_desc = fields.String(metadata={"description": "e.g. 2核8G(ecs.g6.large); \"\" for custom clusters"})
    instance_count = fields.Integer(metadata={"description": "machines not deleted"})


class StorageConfigOutSchema(Schema):
    disks = fields.Dict(allow_none=True)
    mount_point = fields.String()
    nas = fields.String()


class ImageConfigOutSchema(Schema):
    id = fields.String()
    name = fields.String()
    type = fields.String()
    platform = fields.String()
    size = fields.Integer()


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
    # BridgX's ClusterInfo beside the manual's keys (never the instance password)
    cluster_type = fields.String()
    username = fields.String(metadata={"description": "the machines' login name"})
    update_by = fields.String()
    image_config = fields.Nested(ImageConfigOutSchema)
    storage_config = fields.Nested(StorageConfigOutSchema)
    extend_config = fields.Nested(ExtendConfigOutSchema)

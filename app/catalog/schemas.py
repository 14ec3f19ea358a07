from marshmallow import Schema, fields, validate

from app.core.ids import check_location
from app.providers.base import PROVIDERS

ID = validate.Length(min=1, max=64)


class RegionArgs(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    # Beyond the manual: which account to ask (default: the organisation's first of the provider).
    account_key = fields.String(validate=validate.Length(min=1, max=128))


class ZoneArgs(RegionArgs):
    region_id = fields.String(required=True, validate=check_location)


class InstanceTypeArgs(ZoneArgs):
    zone_id = fields.String(required=True, validate=check_location)
    computing_power_type = fields.String(validate=validate.OneOf(["CPU", "GPU"]))


class ImageArgs(ZoneArgs):
    """BridgX's `image_type` (global = the public images the catalogue holds; private / shared:
    none) and `instance_type` (accepted; every image of the region is listed)."""

    image_type = fields.String(validate=validate.OneOf(["global", "private", "shared"]))
    instance_type = fields.String(validate=ID)


class RegionSchema(Schema):
    RegionId = fields.String()
    LocalName = fields.String()


class ZoneSchema(Schema):
    ZoneId = fields.String()
    LocalName = fields.String()


class InstanceTypeSchema(Schema):
    instance_type_family = fields.String()
    instance_type = fields.String()
    core = fields.Integer()
    memory = fields.Raw(metadata={"type": "number", "description": "GB"})
    charge_type = fields.String(metadata={"description": "All: either billing (BridgX's key)"})
    is_gpu = fields.Boolean()
    status = fields.String()


class ImageSchema(Schema):
    OsType = fields.String()
    OsName = fields.String()
    ImageId = fields.String()
    # BridgX's keys (ComandX's image picker)
    platform = fields.String()
    os_type = fields.String()
    os_name = fields.String()
    size = fields.Integer()
    image_id = fields.String()
    image_name = fields.String()

from marshmallow import Schema, fields, validate

from app.core.ids import check_location
from app.providers.base import PROVIDERS


class RegionArgs(Schema):
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    # Beyond the manual: which account to ask (default: the organisation's first of the provider).
    account_key = fields.String(validate=validate.Length(min=1, max=128))


class ZoneArgs(RegionArgs):
    region_id = fields.String(required=True, validate=check_location)


class InstanceTypeArgs(ZoneArgs):
    zone_id = fields.String(required=True, validate=check_location)


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


class ImageSchema(Schema):
    OsType = fields.String()
    OsName = fields.String()
    ImageId = fields.String()

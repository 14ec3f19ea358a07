from marshmallow import Schema, fields, validate

from app.core.paging import PageArgs, PagerSchema
from app.providers.base import PROVIDERS

ENDPOINT = validate.Regexp(r"^https?://[^\s/]+(:\d+)?/?$", error="must be a URL like http://host:port")


class AccountCreateSchema(Schema):
    account_name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    account_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    account_secret = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    endpoint = fields.String(load_default=None, allow_none=True, validate=ENDPOINT)
    project_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    extras = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None, allow_none=True)


class AccountEditSchema(Schema):
    account_id = fields.Integer(required=True)
    account_name = fields.String(validate=validate.Length(min=1, max=128))
    account_secret = fields.String(load_only=True, validate=validate.Length(min=1, max=256))
    endpoint = fields.String(allow_none=True, validate=ENDPOINT)
    project_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=128))
    extras = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


class AccountListArgs(PageArgs):
    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    account_name = fields.String()
    account = fields.String()


class AccountSchema(Schema):
    id = fields.Integer()
    account_name = fields.String()
    account_key = fields.String()
    provider = fields.String()
    endpoint = fields.String(allow_none=True)
    project_id = fields.String(allow_none=True)
    create_at = fields.String()
    create_by = fields.String()


class AccountListSchema(Schema):
    cloud_account_list = fields.List(fields.Nested(AccountSchema))
    pager = fields.Nested(PagerSchema)

import ipaddress
import re

from marshmallow import Schema, ValidationError, fields, validate

from app.core.ids import Id
from app.core.paging import PageArgs, PagerSchema
from app.providers.base import PROVIDERS

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"  # one DNS label (RFC 1123)
_ENDPOINT = re.compile(rf"https?://(?P<host>{_LABEL}(?:\.{_LABEL})*|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])"
                       r"(?::(?P<port>[0-9]{1,5}))?/?")


def check_endpoint(value: str) -> None:
    """`http(s)://host[:port][/]` with a host name, IPv4 or [IPv6] address the SDKs all accept
    (a looser rule let `http://a_b` or `http://[zz]` through to a 500 inside an SDK)."""
    match = _ENDPOINT.fullmatch(value)
    ok = bool(match) and len(value) <= 255 and len(match["host"]) <= 253
    if ok and match["port"]:
        ok = 1 <= int(match["port"]) <= 65535
    if ok and match["ipv6"]:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            ok = False
    if not ok:
        raise ValidationError("must be a URL like http://host:port (a host name or IP address, port 1-65535)")


ENDPOINT = check_endpoint


class AccountCreateSchema(Schema):
    # optional in BridgX (ComandX lets it be empty)
    account_name = fields.String(load_default="", validate=validate.Length(max=128))
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    # Access keys are printable ASCII on every cloud, and SDKs put them in HTTP headers (latin-1):
    # anything else could only fail later, inside an SDK.
    account_key = fields.String(required=True, validate=[
        validate.Length(min=1, max=128),
        validate.Regexp(r"^[\x21-\x7e]+$", error="must be printable ASCII with no spaces")])
    account_secret = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    endpoint = fields.String(load_default=None, allow_none=True, validate=ENDPOINT)
    project_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=128))
    extras = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None, allow_none=True)


class AccountEditSchema(Schema):
    account_id = Id(required=True)
    account_name = fields.String(validate=validate.Length(min=1, max=128))
    # BridgX's edit takes `provider` too; here it may only repeat the account's own
    provider = fields.String(validate=validate.OneOf(PROVIDERS))
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


class BridgXAccountSchema(Schema):
    """BridgX's row: `id` a string, `account` the access key (ComandX reads these)."""

    id = fields.String()
    account_name = fields.String()
    account = fields.String()
    account_key = fields.String()
    provider = fields.String()
    endpoint = fields.String(allow_none=True)
    project_id = fields.String(allow_none=True)
    create_at = fields.String()
    create_by = fields.String()


class AccountListSchema(Schema):
    account_list = fields.List(fields.Nested(BridgXAccountSchema))
    cloud_account_list = fields.List(fields.Nested(AccountSchema), metadata={
        "description": "the same rows with integer ids (this project's earlier shape)"})
    pager = fields.Nested(PagerSchema)

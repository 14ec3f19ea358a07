"""Custom-cluster requests and responses, in BridgX's shapes (ComandX sends and reads these)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from app.core.paging import PageArgs, PagerSchema
from app.custom.ssh import parse_address
from app.providers.base import PROVIDERS

MAX_MACHINES = 1000  # per custom cluster request
MAX_CHECK = 200  # per instance/check request (each may take 3 timeouts)
NAME = validate.Length(min=1, max=128)


def _address(value: str) -> None:
    try:
        parse_address(value)
    except ValueError:
        raise ValidationError("must be an IP address, optionally with :port (e.g. 10.0.0.5 or 10.0.0.5:2222)")


class MachineSchema(Schema):
    """`{instance_ip, login_name, login_password}`; surrounding spaces are trimmed (as BridgX does)."""

    instance_ip = fields.String(required=True, validate=[validate.Length(max=64), _address])
    login_name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    login_password = fields.String(required=True, load_only=True, validate=validate.Length(max=128))

    @pre_load
    def _trim(self, data, **kwargs):
        if isinstance(data, dict):
            data = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
        return data


def _no_duplicate_ips(data: dict) -> None:
    seen = set()
    for i, machine in enumerate(data.get("instance_list") or []):
        if machine["instance_ip"] in seen:
            raise ValidationError({"instance_list": {i: {"instance_ip": ["listed twice"]}}})
        seen.add(machine["instance_ip"])


MACHINES = dict(required=True, validate=validate.Length(min=1, max=MAX_MACHINES))


class CustomPrivateSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    desc = fields.String(load_default="", validate=validate.Length(max=512))
    instance_list = fields.List(fields.Nested(MachineSchema), **MACHINES)

    @validates_schema
    def _unique(self, data, **kwargs):
        _no_duplicate_ips(data)


class CustomPublicSchema(CustomPrivateSchema):
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    account_key = fields.String(load_default="", validate=validate.Length(max=128))


class CheckSchema(Schema):
    instance_list = fields.List(fields.Nested(MachineSchema), load_default=list,
                                validate=validate.Length(max=MAX_CHECK))


class CustomDetailArgs(Schema):
    cluster_id = fields.String(validate=validate.Length(max=32))
    cluster_name = fields.String(validate=NAME)

    @validates_schema
    def _one(self, data, **kwargs):
        if not data.get("cluster_id") and not data.get("cluster_name"):
            raise ValidationError("give cluster_name or cluster_id", "cluster_name")


class ListCustomArgs(PageArgs):
    cluster_name = fields.String(required=True, validate=NAME)


# ---------------------------------------------------------------- responses
class CheckResultSchema(Schema):
    instance_ip = fields.String()
    is_pass = fields.Boolean()
    reason = fields.String(metadata={"description": "ok, or why the login failed"})


class MachineResultSchema(Schema):
    """ComandX reads `machine_list[].ip` / `.is_pass` (BridgX itself sends `instance_list`)."""

    ip = fields.String()
    is_pass = fields.Boolean()
    reason = fields.String()


class CheckResponseSchema(Schema):
    is_all_pass = fields.Boolean()
    instance_list = fields.List(fields.Nested(CheckResultSchema))
    machine_list = fields.List(fields.Nested(MachineResultSchema))


class CustomDetailSchema(Schema):
    cluster_id = fields.String()
    name = fields.String()
    desc = fields.String()
    decs = fields.String(metadata={"description": "= desc (ComandX reads this misspelling)"})
    provider = fields.String()
    account_key = fields.String()
    cluster_type = fields.String()


class CustomMachineOutSchema(Schema):
    instance_ip = fields.String()
    login_name = fields.String()
    login_password = fields.String(metadata={"description": "\"******\": stored encrypted, never returned"})


class CustomMachineListSchema(Schema):
    instance_list = fields.List(fields.Nested(CustomMachineOutSchema))
    pager = fields.Nested(PagerSchema)

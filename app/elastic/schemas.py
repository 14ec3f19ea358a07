"""Request/response shapes of /api/v1/elastic; each rule names its field in the 400."""
from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.core.ids import Id
from app.core.paging import PageArgs, PagerSchema
from app.elastic.policy import TERMINATION_POLICIES

MAX_SIZE = 50000
NAME = validate.Length(min=1, max=128)
CLOUD_ID = validate.Length(min=1, max=64)


def Size(**kw):
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_SIZE), **kw)


def check_cron(value: str) -> None:
    from datetime import datetime
    if len(value.split()) != 5:
        raise ValidationError("must be a 5-field cron expression (minute hour day month weekday)")
    try:
        next(iter(CronSim(value, datetime(2026, 1, 1))))
    except (CronSimError, ValueError) as exc:
        raise ValidationError(f"is not a valid cron expression: {exc}")
    except StopIteration:
        raise ValidationError("never matches a date")


def check_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError("is not an IANA time zone name (e.g. UTC, Asia/Shanghai)")
    ZoneInfo(value)


class ClusterArgs(Schema):
    cluster_name = fields.String(required=True, validate=NAME)


class CapacitySchema(ClusterArgs):
    desired = Size(allow_none=True, metadata={"description": "null stops the controller keeping a size"})
    min = Size(allow_none=True)
    max = Size(allow_none=True)

    @validates_schema
    def _something(self, data, **kwargs):
        if not {"desired", "min", "max"} & set(data):
            raise ValidationError("give desired, min or max", "desired")


class PlacementSchema(Schema):
    zone_id = fields.String(required=True, validate=CLOUD_ID)
    subnet_id = fields.String(required=True, validate=CLOUD_ID)
    instance_type = fields.String(required=True, validate=CLOUD_ID)


class SpotSchema(Schema):
    enabled = fields.Boolean(load_default=False)
    price_limit = fields.Float(allow_none=True, validate=validate.Range(min=0, min_inclusive=False, max=1e6))
    on_demand_fallback = fields.Boolean(load_default=True)


class PolicySchema(ClusterArgs):
    termination_policy = fields.String(validate=validate.OneOf(TERMINATION_POLICIES))
    grace_seconds = fields.Integer(strict=True, validate=validate.Range(min=0, max=86400))
    unready_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=10, max=86400))
    max_replacements = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_SIZE))
    replacement_window_seconds = fields.Integer(strict=True, validate=validate.Range(min=1, max=7 * 86400))
    fallbacks = fields.List(fields.Nested(PlacementSchema), validate=validate.Length(max=20))
    balance_zones = fields.Boolean()
    spot = fields.Nested(SpotSchema)


class ProtectionSchema(ClusterArgs):
    instance_ids = fields.List(fields.String(validate=CLOUD_ID), required=True,
                               validate=validate.Length(min=1, max=1000))
    protected = fields.Boolean(required=True)


class ScheduleFields(Schema):
    cron = fields.String(validate=[validate.Length(min=1, max=128), check_cron],
                         metadata={"description": "minute hour day month weekday, e.g. '0 9 * * 1-5'"})
    timezone = fields.String(validate=[validate.Length(min=1, max=64), check_timezone])
    desired = Size(allow_none=True)
    min = Size(allow_none=True)
    max = Size(allow_none=True)
    enabled = fields.Boolean()

    @validates_schema
    def _bounds(self, data, **kwargs):
        lo, hi = data.get("min"), data.get("max")
        if lo is not None and hi is not None and lo > hi:
            raise ValidationError("must not be above max", "min")


class ScheduleCreateSchema(ScheduleFields, ClusterArgs):
    name = fields.String(required=True, validate=NAME)
    cron = fields.String(required=True, validate=[validate.Length(min=1, max=128), check_cron])
    timezone = fields.String(load_default="UTC", validate=[validate.Length(min=1, max=64), check_timezone])

    @validates_schema
    def _action(self, data, **kwargs):
        if all(data.get(k) is None for k in ("desired", "min", "max")):
            raise ValidationError("a schedule sets at least one of desired, min, max", "desired")


class ScheduleEditSchema(ScheduleFields):
    schedule_id = Id(required=True)
    name = fields.String(validate=NAME)


class ScheduleListArgs(PageArgs):
    cluster_name = fields.String(validate=NAME)


class ReplacementListArgs(PageArgs):
    cluster_name = fields.String(required=True, validate=NAME)


class ScheduleSchema(Schema):
    schedule_id = fields.Integer()
    cluster_name = fields.String()
    name = fields.String()
    cron = fields.String()
    timezone = fields.String()
    desired = fields.Integer(allow_none=True)
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    enabled = fields.Boolean()
    next_run = fields.String(allow_none=True)
    last_run = fields.String(allow_none=True)
    last_result = fields.String()


class ScheduleListSchema(Schema):
    schedule_list = fields.List(fields.Nested(ScheduleSchema))
    pager = fields.Nested(PagerSchema)


class ReplacementSchema(Schema):
    instance_id = fields.String()
    reason = fields.String()
    detail = fields.String()
    detected_at = fields.String()


class ReplacementListSchema(Schema):
    replacement_list = fields.List(fields.Nested(ReplacementSchema))
    pager = fields.Nested(PagerSchema)


class StatusSchema(Schema):
    cluster_name = fields.String()
    desired = fields.Integer(allow_none=True)
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    live = fields.Integer()
    running = fields.Integer()
    protected = fields.Integer()
    unfinished_task_id = fields.String(allow_none=True)
    policy = fields.Dict()

"""Usage query arguments and response shapes."""
import re
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate

from app.core.paging import PageArgs, PagerSchema

DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Day(fields.Field):
    """`YYYY-MM-DD` → date; anything else (`2021-13-40`, `2021-10-11x`) is a validation error."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not DATE.fullmatch(value):
            raise ValidationError("must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError("is not a calendar date")


class UsageArgs(Schema):
    date = Day(required=True)
    cluster_name = fields.String(validate=validate.Length(min=1, max=128))


class UsageStatisticsArgs(PageArgs, UsageArgs):
    pass


class UsageTotalSchema(Schema):
    usage_total = fields.Integer()


class UsageRowSchema(Schema):
    id = fields.String()
    cluster_name = fields.String()
    instance_id = fields.String()
    startup_at = fields.String()
    shutdown_at = fields.String()
    startup_time = fields.Integer()
    instance_type = fields.String()


class UsageStatisticsSchema(Schema):
    instance_list = fields.List(fields.Nested(UsageRowSchema))
    pager = fields.Nested(PagerSchema)

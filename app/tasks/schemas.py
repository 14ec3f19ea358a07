from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from app.core.ids import Id
from app.core.paging import PageArgs, PagerSchema
from app.instances.schemas import StatusList
from app.tasks.models import FAILED, INIT, PARTIAL_SUCCESS, RUNNING, SUCCESS

MAX_COUNT = 50000
NAME = validate.Length(min=1, max=128)


def _ipv4(value: str) -> None:
    import ipaddress
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValidationError("not an IPv4 address")


class IdempotencyHeaders(Schema):
    """`Idempotency-Key`: a retried request with the same key (within the organisation) answers
    with the task the first one started instead of starting another."""

    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(data_key="Idempotency-Key", validate=[
        validate.Length(min=1, max=128),
        validate.Regexp(r"^[\x21-\x7e]+$", error="printable ASCII without spaces, at most 128 characters")])


class ExpandSchema(Schema):
    task_name = fields.String(required=True, validate=NAME)
    cluster_name = fields.String(required=True, validate=NAME)
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_COUNT))


class ShrinkSchema(Schema):
    task_name = fields.String(required=True, validate=NAME)
    cluster_name = fields.String(required=True, validate=NAME)
    count = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_COUNT))
    ips = fields.List(fields.String(validate=_ipv4), validate=validate.Length(min=1, max=MAX_COUNT))

    @validates_schema
    def _count_or_ips(self, data, **kwargs):
        if "count" not in data and "ips" not in data:
            raise ValidationError("give count, or ips", "count")
        ips = data.get("ips")
        if ips is not None:
            if len(set(ips)) != len(ips):
                raise ValidationError("lists an IP twice", "ips")
            if "count" in data and data["count"] != len(ips):
                raise ValidationError(f"must equal the number of ips ({len(ips)})", "count")


class ShrinkAllSchema(Schema):
    cluster_name = fields.String(required=True, validate=NAME)
    task_name = fields.String(validate=NAME)


class TaskListArgs(PageArgs):
    account = fields.String()


class TaskDescribeArgs(Schema):
    task_id = Id(required=True)


class TaskCancelSchema(Schema):
    task_id = Id(required=True)


class TaskInstancesArgs(PageArgs):
    task_id = Id(required=True)
    instance_status = StatusList(metadata={"description": "comma list; BridgX's upper-case names too"})


class TaskFilterArgs(PageArgs):
    task_id = Id()
    task_name = fields.String()
    cluster_name = fields.String()
    task_status = fields.String(validate=validate.OneOf([INIT, RUNNING, SUCCESS, FAILED, PARTIAL_SUCCESS]))

    @pre_load
    def _upper(self, data, **kwargs):  # BridgX upper-cases the status
        data = dict(data)
        if isinstance(data.get("task_status"), str):
            data["task_status"] = data["task_status"].upper()
        return data


class TaskSummarySchema(Schema):
    task_id = fields.String()
    task_name = fields.String()
    task_action = fields.String()
    status = fields.String()
    task_status = fields.String()
    cluster_name = fields.String()
    create_at = fields.String()
    execute_time = fields.Integer(metadata={"description": "seconds from the request to the finish (or now)"})
    start_at = fields.String(metadata={"description": "when a worker started it"})
    finish_at = fields.String()


class TaskListSchema(Schema):
    task_list = fields.List(fields.Nested(TaskSummarySchema))
    pager = fields.Nested(PagerSchema)


class BatchSchema(Schema):
    index = fields.Integer()
    count = fields.Integer()
    state = fields.String()
    instances = fields.Integer()
    error = fields.String()


class TaskDetailSchema(Schema):
    task_id = fields.String()
    task_name = fields.String()
    cluster_name = fields.String()
    task_status = fields.String()
    task_action = fields.String()
    fail_reason = fields.String()
    run_num = fields.Integer()
    suspend_num = fields.Integer()
    success_num = fields.Integer()
    fail_num = fields.Integer()
    total_num = fields.Integer()
    success_rate = fields.String()
    task_result = fields.String()
    execute_time = fields.Integer(metadata={"description": "seconds from the request to the finish (or now)"})
    start_at = fields.String(metadata={"description": "when a worker started it"})
    finish_at = fields.String()
    elapsed_seconds = fields.Float(allow_none=True)
    before_instance_count = fields.Integer()
    after_instance_count = fields.Integer(allow_none=True)
    expect_instance_count = fields.Integer()
    create_at = fields.String()
    create_by = fields.String()
    last_error = fields.String(metadata={"description": "The latest cloud error this task met (\"\" if none)."})
    last_progress_at = fields.String(metadata={"description": "When a machine was last created, ready or deleted."})
    waiting = fields.Boolean(metadata={"description": "True while the task waits out a cloud outage or throttling."})
    waiting_reason = fields.String()
    cancel_requested_at = fields.String()
    cancel_by = fields.String()
    batches = fields.List(fields.Nested(BatchSchema))


class TaskDetailListSchema(Schema):
    task_list = fields.List(fields.Nested(TaskDetailSchema))
    pager = fields.Nested(PagerSchema)


class TaskInstanceSchema(Schema):
    instance_id = fields.String()
    ip_inner = fields.String(allow_none=True)
    ip_outer = fields.String(allow_none=True)
    status = fields.String()
    create_at = fields.String()
    running_at = fields.String()
    deleted_at = fields.String()
    startup_time = fields.Integer(metadata={"description": "seconds from creation to running; 0 if it never ran"})


class TaskInstancesSchema(Schema):
    instance_list = fields.List(fields.Nested(TaskInstanceSchema))
    pager = fields.Nested(PagerSchema)


class TaskNumSchema(Schema):
    task_num = fields.Integer()

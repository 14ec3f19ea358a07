import logging

from app.core.api import Blueprint, IntEnvelope, envelope_schema, ok
from app.health import service as health
from app.tasks import service
from app.tasks.schemas import (ExpandSchema, IdempotencyHeaders, ShrinkAllSchema, ShrinkSchema, TaskCancelSchema,
                               TaskDescribeArgs, TaskDetailListSchema, TaskDetailSchema, TaskFilterArgs,
                               TaskInstancesArgs, TaskInstancesSchema, TaskListArgs, TaskListSchema, TaskNumSchema)

log = logging.getLogger(__name__)
blp = Blueprint("scaling", __name__, url_prefix="/api/v1", description="Scaling tasks: expand and shrink clusters")


@blp.route("/cluster/expand", methods=["POST"])
@blp.arguments(ExpandSchema)
@blp.arguments(IdempotencyHeaders, location="headers")
@blp.response(200, IntEnvelope)
@blp.alt_response(403, description="quota_exceeded: `data` names the organisation limit, its value and the usage")
def expand(body, headers):
    """Add `count` machines to a cluster; `data` is the task id. 409 while the cluster has an unfinished task;
    403 `quota_exceeded` past an organisation quota (machines per task, live machines, tasks in flight).
    With an `Idempotency-Key` header, a retry answers with the first request's task. With no live
    worker the task is still accepted (it starts when one does) and the response carries a
    `Warning` header saying so."""
    return _accepted(service.expand(body, headers.get("idempotency_key")))


@blp.route("/cluster/shrink", methods=["POST"])
@blp.arguments(ShrinkSchema)
@blp.arguments(IdempotencyHeaders, location="headers")
@blp.response(200, IntEnvelope)
def shrink(body, headers):
    """Remove machines by inner `ips`, or `count` of them (pending first, then newest); `data` is the task id.
    With an `Idempotency-Key` header, a retry answers with the first request's task."""
    return _accepted(service.shrink(body, idempotency_key=headers.get("idempotency_key")))


@blp.route("/cluster/shrink_all", methods=["POST"])
@blp.arguments(ShrinkAllSchema)
@blp.response(200, IntEnvelope)
def shrink_all(body):
    """Remove every live machine of a cluster; `data` is the task id."""
    return _accepted(service.shrink(body, all_instances=True))


def _accepted(task_id: int):
    warning = health.no_worker_warning()
    if warning is None:
        return ok(task_id)
    log.warning("task %s accepted with no live worker", task_id)
    return ok(task_id), 200, {"Warning": f'199 bridgx "{warning}"'}


@blp.route("/task/cancel", methods=["POST"])
@blp.arguments(TaskCancelSchema)
@blp.response(200, envelope_schema("TaskCancelEnvelope", TaskDetailSchema))
def task_cancel(body):
    """Stop an unfinished task: no new batch starts; machines already created stay in the cluster.
    404 for another organisation's task, 409 when it already finished."""
    return ok(service.detail(service.cancel(body["task_id"]), batches=False))


@blp.route("/task/list", methods=["GET"])
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, envelope_schema("TaskListEnvelope", TaskListSchema))
def task_list(args):
    """The organisation's tasks, newest first."""
    return ok(service.list_page(args))


@blp.route("/task/describe", methods=["GET"])
@blp.arguments(TaskDescribeArgs, location="query")
@blp.response(200, envelope_schema("TaskDetailEnvelope", TaskDetailSchema), lean=True)
def task_describe(args):
    """One task: status, counts, failure reason, timings and per-batch state (live while it runs)."""
    task = service.get(args["task_id"])
    return ok(service.detail(task))


@blp.route("/task/describe_all", methods=["GET"])
@blp.arguments(TaskFilterArgs, location="query")
@blp.response(200, envelope_schema("TaskDetailListEnvelope", TaskDetailListSchema))
def task_describe_all(args):
    """Tasks with their details, filtered by id, name, cluster or status."""
    return ok(service.describe_all(args))


@blp.route("/task/instances", methods=["GET"])
@blp.arguments(TaskInstancesArgs, location="query")
@blp.response(200, envelope_schema("TaskInstancesEnvelope", TaskInstancesSchema))
def task_instances(args):
    """The machines a task created (expand) or removed (shrink)."""
    return ok(service.instances_page(args))


@blp.route("/task/num", methods=["GET"])
@blp.response(200, envelope_schema("TaskNumEnvelope", TaskNumSchema))
def task_num():
    """How many tasks the organisation has."""
    return ok({"task_num": service.count_tasks()})

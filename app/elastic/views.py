from app.core.api import Blueprint, NullEnvelope, envelope_schema, ok
from app.core.ids import parse_id, path_param
from app.elastic import service
from app.elastic.schemas import (CapacitySchema, ClusterArgs, PolicySchema, ProtectionSchema, ReplacementListArgs,
                                 ReplacementListSchema, ScheduleCreateSchema, ScheduleEditSchema, ScheduleListArgs,
                                 ScheduleListSchema, ScheduleSchema, StatusSchema)

blp = Blueprint("elastic", __name__, url_prefix="/api/v1/elastic",
                description="Elastic clusters: desired capacity, self-healing, schedules, protection")
StatusEnvelope = envelope_schema("ElasticStatusEnvelope", StatusSchema)
ScheduleEnvelope = envelope_schema("ScheduleEnvelope", ScheduleSchema)


@blp.route("/status", methods=["GET"])
@blp.arguments(ClusterArgs, location="query")
@blp.response(200, StatusEnvelope)
def status(args):
    """desired/min/max, live machines, the unfinished task and the policy of one cluster."""
    return ok(service.status(args["cluster_name"]))


@blp.route("/capacity", methods=["POST"])
@blp.arguments(CapacitySchema)
@blp.response(200, StatusEnvelope)
def capacity(body):
    """Set desired/min/max (min ≤ desired ≤ max); `desired: null` stops the controller keeping a size."""
    return ok(service.set_capacity(body))


@blp.route("/policy", methods=["POST"])
@blp.arguments(PolicySchema)
@blp.response(200, StatusEnvelope)
def set_policy(body):
    """Termination policy, healing grace/cap, fallback placements and spot; fields left out are kept."""
    return ok(service.set_policy(body))


@blp.route("/protection", methods=["POST"])
@blp.arguments(ProtectionSchema)
@blp.response(200, StatusEnvelope)
def protection(body):
    """Turn scale-in protection on or off for live machines of the cluster (by instance id)."""
    return ok(service.protect(body))


@blp.route("/replacements", methods=["GET"])
@blp.arguments(ReplacementListArgs, location="query")
@blp.response(200, envelope_schema("ReplacementListEnvelope", ReplacementListSchema))
def replacements(args):
    """Machines self-healing found dead, newest first: when and why."""
    return ok(service.replacements_page(args))


@blp.route("/schedules", methods=["GET"])
@blp.arguments(ScheduleListArgs, location="query")
@blp.response(200, envelope_schema("ScheduleListEnvelope", ScheduleListSchema))
def schedules(args):
    """Scheduled actions, optionally of one cluster, with their next and last run."""
    return ok(service.schedules_page(args))


@blp.route("/schedule/create", methods=["POST"])
@blp.arguments(ScheduleCreateSchema)
@blp.response(200, ScheduleEnvelope)
def create_schedule(body):
    """A cron-style action (5 fields, in `timezone`) setting desired/min/max; fires once per matching minute."""
    return ok(service.create_schedule(body))


@blp.route("/schedule/edit", methods=["POST"])
@blp.arguments(ScheduleEditSchema)
@blp.response(200, ScheduleEnvelope)
def edit_schedule(body):
    """Change a schedule; fields left out are kept."""
    return ok(service.edit_schedule(body))


@blp.route("/schedule/delete/<schedule_id>", methods=["DELETE"],
           parameters=[path_param("schedule_id", "the schedule's id")])
@blp.response(200, NullEnvelope)
def delete_schedule(schedule_id):
    """Delete a schedule."""
    service.delete_schedule(parse_id(schedule_id, "schedule_id"))
    return ok(None)

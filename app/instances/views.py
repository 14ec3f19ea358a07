from app.core.api import Blueprint, envelope_schema, ok
from app.instances import service
from app.instances.schemas import (InstanceDetailSchema, InstanceIdArgs, InstanceListArgs, InstanceListSchema,
                                   InstanceNumArgs, InstanceNumSchema)

blp = Blueprint("instance", __name__, url_prefix="/api/v1/instance", description="Instance inventory")


@blp.route("/describe_all", methods=["GET"])
@blp.arguments(InstanceListArgs, location="query")
@blp.response(200, envelope_schema("InstanceListEnvelope", InstanceListSchema), lean=True)
def describe_all(args):
    """The organisation's instances, newest first; `ip` matches the inner or outer IP, `status` is a comma list."""
    return ok(service.list_page(args))


@blp.route("/id/describe", methods=["GET"])
@blp.arguments(InstanceIdArgs, location="query")
@blp.response(200, envelope_schema("InstanceDetailEnvelope", InstanceDetailSchema))
def describe(args):
    """One instance with its storage and network configuration."""
    return ok(service.detail(service.get(args["instance_id"])))


@blp.route("/num", methods=["GET"])
@blp.arguments(InstanceNumArgs, location="query")
@blp.response(200, envelope_schema("InstanceNumEnvelope", InstanceNumSchema))
def num(args):
    """How many instances are Running, optionally of one account or cluster."""
    return ok({"instance_num": service.running_count(args)})

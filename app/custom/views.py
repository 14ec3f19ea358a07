from app.core.api import Blueprint, StringEnvelope, envelope_schema, ok
from app.custom import schemas, service

blp = Blueprint("custom_cluster", __name__, url_prefix="/api/v1",
                description="Custom clusters: machines that already exist, recorded with their SSH login")


@blp.route("/cluster/create_custom_public", methods=["POST"])
@blp.arguments(schemas.CustomPublicSchema)
@blp.response(200, StringEnvelope)
def create_public(body):
    """Record existing machines of a public cloud as a custom cluster; `data` is its name."""
    return ok(service.create(body, body["provider"]).name)


@blp.route("/cluster/create_custom_private", methods=["POST"])
@blp.arguments(schemas.CustomPrivateSchema)
@blp.response(200, StringEnvelope)
def create_private(body):
    """Record machines of one's own data centre (provider `PrivateCloud`); `data` is the name."""
    return ok(service.create(body).name)


@blp.route("/cluster/custom/detail", methods=["GET"])
@blp.arguments(schemas.CustomDetailArgs, location="query")
@blp.response(200, envelope_schema("CustomClusterDetailEnvelope", schemas.CustomDetailSchema))
def custom_detail(args):
    """A cluster's name, description, provider and account key, by `cluster_name` or `cluster_id`."""
    return ok(service.detail(args))


@blp.route("/cluster/instance/check", methods=["POST"])
@blp.arguments(schemas.CheckSchema)
@blp.response(200, envelope_schema("InstanceCheckEnvelope", schemas.CheckResponseSchema))
def instance_check(body):
    """Log in to each machine over SSH with the given password (`ip` or `ip:port`); one result per machine."""
    return ok(service.check(body))


@blp.route("/instance/list_custom", methods=["GET"])
@blp.arguments(schemas.ListCustomArgs, location="query")
@blp.response(200, envelope_schema("CustomInstanceListEnvelope", schemas.CustomMachineListSchema))
def list_custom(args):
    """The machines of a custom cluster, oldest first (passwords are never returned)."""
    return ok(service.list_machines(args))

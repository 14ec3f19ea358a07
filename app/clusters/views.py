from app.clusters import service
from app.clusters.schemas import (ClusterCreateSchema, ClusterDetailSchema, ClusterEditSchema, ClusterListArgs,
                                  ClusterListSchema, ClusterNumArgs, ClusterNumSchema, InstanceStatArgs,
                                  InstanceStatSchema)
from app.core.api import Blueprint, NullEnvelope, StringEnvelope, envelope_schema, ok
from app.core.ids import parse_id, parse_ids, path_param

blp = Blueprint("cluster", __name__, url_prefix="/api/v1/cluster", description="Cluster templates")
DetailEnvelope = envelope_schema("ClusterDetailEnvelope", ClusterDetailSchema)


@blp.route("/create", methods=["POST"])
@blp.arguments(ClusterCreateSchema)
@blp.response(200, StringEnvelope)
def create(body):
    """Create a cluster template; `data` is its name."""
    return ok(service.create(body).name)


@blp.route("/describe_all", methods=["GET"])
@blp.arguments(ClusterListArgs, location="query")
@blp.response(200, envelope_schema("ClusterListEnvelope", ClusterListSchema), lean=True)
def describe_all(args):
    """The organisation's clusters, newest first, filtered by account, name, provider, type or usage
    (an empty filter is no filter)."""
    return ok(service.list_page(args))


@blp.route("/num", methods=["GET"])
@blp.arguments(ClusterNumArgs, location="query")
@blp.response(200, envelope_schema("ClusterNumEnvelope", ClusterNumSchema))
def num(args):
    """How many clusters the organisation has on its cloud accounts (or on one access key)."""
    return ok({"cluster_num": service.count(args.get("account"))})


@blp.route("/instance_stat", methods=["GET"])
@blp.arguments(InstanceStatArgs, location="query")
@blp.response(200, envelope_schema("InstanceStatEnvelope", InstanceStatSchema))
def instance_stat(args):
    """A cluster's instance type (as `2核8G(type)`) and how many of its machines are not deleted."""
    return ok(service.instance_stat(args["cluster_name"]))


@blp.route("/id/<cluster_id>", methods=["GET"], parameters=[path_param("cluster_id", "the cluster's id")])
@blp.response(200, DetailEnvelope)
def by_id(cluster_id):
    """One template as created (never its password)."""
    return ok(service.detail(service.get(parse_id(cluster_id, "cluster_id"))))


@blp.route("/name/<name>", methods=["GET"])
@blp.response(200, DetailEnvelope)
def by_name(name):
    """One template by name."""
    return ok(service.detail(service.get_by_name(name, "name")))


@blp.route("/edit", methods=["POST"])
@blp.arguments(ClusterEditSchema)
@blp.response(200, DetailEnvelope)
def edit(body):
    """Change a template (by `cluster_id`, or by `name`); refused while a scaling task runs."""
    return ok(service.detail(service.edit(body)))


@blp.route("/delete/<ids>", methods=["DELETE"])
@blp.response(200, NullEnvelope)
def delete(ids):
    """Delete templates by comma-separated ids; 409 while one has live machines or a running task."""
    service.delete(parse_ids(ids))
    return ok(None)

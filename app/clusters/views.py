from app.clusters import service
from app.clusters.schemas import (ClusterCreateSchema, ClusterDetailSchema, ClusterEditSchema, ClusterListArgs,
                                  ClusterListSchema)
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
@blp.response(200, envelope_schema("ClusterListEnvelope", ClusterListSchema))
def describe_all(args):
    """The organisation's clusters, newest first, optionally of one account."""
    return ok(service.list_page(args))


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

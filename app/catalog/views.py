from app.catalog import schemas, service
from app.core.api import Blueprint, envelope_schema, ok

blp = Blueprint("catalog", __name__, url_prefix="/api/v1",
                description="Regions, zones, instance types and images, answered from a cache filled from the cloud")


@blp.route("/region/list", methods=["GET"])
@blp.arguments(schemas.RegionArgs, location="query")
@blp.response(200, envelope_schema("RegionListEnvelope", schemas.RegionSchema, many=True))
def region_list(args):
    """The provider's regions."""
    return ok(service.regions(args))


@blp.route("/zone/list", methods=["GET"])
@blp.arguments(schemas.ZoneArgs, location="query")
@blp.response(200, envelope_schema("ZoneListEnvelope", schemas.ZoneSchema, many=True))
def zone_list(args):
    """The zones of one region."""
    return ok(service.zones(args))


@blp.route("/instance_type/list", methods=["GET"])
@blp.arguments(schemas.InstanceTypeArgs, location="query")
@blp.response(200, envelope_schema("InstanceTypeListEnvelope", schemas.InstanceTypeSchema, many=True))
def instance_type_list(args):
    """The instance types one zone sells."""
    return ok(service.instance_types(args))


@blp.route("/image/list", methods=["GET"])
@blp.arguments(schemas.ImageArgs, location="query")
@blp.response(200, envelope_schema("ImageListEnvelope", schemas.ImageSchema, many=True))
def image_list(args):
    """The images of one region."""
    return ok(service.images(args))

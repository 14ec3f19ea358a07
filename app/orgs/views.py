from app.core.api import Blueprint, NullEnvelope, envelope_schema, ok
from app.core.ids import parse_id, path_param
from app.orgs import service
from app.orgs.schemas import OrgEditSchema, OrgSchema

blp = Blueprint("org", __name__, url_prefix="/api/v1/org", description="Your organisation")


@blp.route("/id/<org_id>", methods=["GET"], parameters=[path_param("org_id", "your organisation's id")])
@blp.response(200, envelope_schema("OrgEnvelope", OrgSchema))
def by_id(org_id):
    """Your organisation (another organisation's id answers 404)."""
    return ok(service.to_dict(service.get(parse_id(org_id, "org_id"), "org_id")))


@blp.route("/edit", methods=["POST"])
@blp.arguments(OrgEditSchema)
@blp.response(200, NullEnvelope)
def edit(body):
    """ADMIN only: rename your organisation (names are unique: 409 when taken)."""
    service.rename(body["org_id"], body["org_name"])
    return ok(None)

"""`/api/v1/token/...`: list and revoke long-lived bxt_ tokens."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.auth import service
from app.core.api import Blueprint, envelope_schema, ok
from app.core.tenancy import principal
from app.core.timefmt import fmt

blp = Blueprint("token", __name__, url_prefix="/api/v1/token", description="Long-lived API tokens")


class TokenSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    username = fields.String()
    revoked = fields.Boolean()
    create_at = fields.String(allow_none=True)
    revoked_at = fields.String(allow_none=True)


class RevokeSchema(Schema):
    token_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1))
    token = fields.String(validate=validate.Length(min=5, max=128), load_only=True)

    @validates_schema
    def _one(self, data, **kwargs):
        if ("token_id" in data) == ("token" in data):
            raise ValidationError("give token_id or token", "token_id")


def _dump(row, username) -> dict:
    return {"id": row.id, "name": row.name, "username": username, "revoked": row.revoked,
            "create_at": fmt(row.created_at), "revoked_at": fmt(row.revoked_at)}


@blp.route("/list", methods=["GET"])
@blp.response(200, envelope_schema("TokenListEnvelope", TokenSchema, many=True))
def token_list():
    """Your bxt_ tokens (an organisation admin: every token of the organisation); never their value."""
    return ok([_dump(row, name) for row, name in service.token_rows(principal())])


@blp.route("/revoke", methods=["POST"])
@blp.arguments(RevokeSchema)
@blp.response(200, envelope_schema("TokenEnvelope", TokenSchema))
def token_revoke(body):
    """Revoke a bxt_ token by `token_id` or by its value (`token`): it and every JWT minted from
    it (by /user/refresh_token) stop working at once. Your own tokens; an admin: any of the
    organisation's. Revoking twice is not an error."""
    row = service.revoke_token(token_id=body.get("token_id"), token=body.get("token"), principal=principal())
    return ok(_dump(row, row.owner_name))

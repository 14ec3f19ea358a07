from app.accounts import service
from app.accounts.schemas import AccountCreateSchema, AccountEditSchema, AccountListArgs, AccountListSchema, AccountSchema
from app.core.api import Blueprint, NullEnvelope, envelope_schema, ok
from app.core.ids import parse_ids

blp = Blueprint("cloud_account", __name__, url_prefix="/api/v1/cloud_account",
                description="Cloud accounts (access keys); secrets are write-only")

AccountEnvelope = envelope_schema("AccountEnvelope", AccountSchema)


@blp.route("/create", methods=["POST"])
@blp.arguments(AccountCreateSchema)
@blp.response(200, AccountEnvelope)
def create(body):
    """Register an access key pair after one cheap read call proves the cloud accepts it."""
    return ok(service.to_dict(service.create(body)))


@blp.route("/list", methods=["GET"])
@blp.arguments(AccountListArgs, location="query")
@blp.response(200, envelope_schema("AccountListEnvelope", AccountListSchema))
def list_accounts(args):
    """The organisation's accounts, newest first."""
    return ok(service.list_page(args))


@blp.route("/edit", methods=["POST"])
@blp.arguments(AccountEditSchema)
@blp.response(200, AccountEnvelope)
def edit(body):
    """Rename an account, rotate its secret, or change its endpoint (re-verified)."""
    return ok(service.to_dict(service.edit(body)))


@blp.route("/delete/<ids>", methods=["DELETE"])
@blp.response(200, NullEnvelope)
def delete(ids):
    """Delete accounts by comma-separated ids; 409 while a cluster uses one."""
    service.delete(parse_ids(ids))
    return ok(None)

from app.core.api import Blueprint, NullEnvelope, envelope_schema, ok
from app.users import service
from app.users.schemas import (CreateUserSchema, EnableUserSchema, ModifyPasswordSchema, ModifyUserTypeSchema,
                               UserInfoSchema, UserListArgs, UserListSchema)

blp = Blueprint("users", __name__, url_prefix="/api/v1/user",
                description="Users of your organisation (BridgX's console routes); changes need an ADMIN")


@blp.route("/info", methods=["GET"])
@blp.response(200, envelope_schema("UserInfoEnvelope", UserInfoSchema))
def info():
    """The caller: id, name, role (`user_type` ADMIN/COMMON), organisation."""
    return ok(service.info())


@blp.route("/list", methods=["GET"])
@blp.arguments(UserListArgs, location="query")
@blp.response(200, envelope_schema("UserListEnvelope", UserListSchema))
def list_users(args):
    """The users of the caller's organisation, newest first (`user_id` as a string, as BridgX sends it)."""
    return ok(service.list_page(args))


@blp.route("/create_user", methods=["POST"])
@blp.arguments(CreateUserSchema)
@blp.response(200, NullEnvelope)
def create_user(body):
    """ADMIN only: add a user to your organisation; the password must meet the policy."""
    service.create(body)
    return ok(None)


@blp.route("/modify_password", methods=["POST"])
@blp.arguments(ModifyPasswordSchema)
@blp.response(200, NullEnvelope)
def modify_password(body):
    """Change your own password (the old one is required)."""
    service.modify_password(body)
    return ok(None)


@blp.route("/enable_user", methods=["POST"])
@blp.arguments(EnableUserSchema)
@blp.response(200, NullEnvelope)
def enable_user(body):
    """ADMIN only: enable or disable users; a disabled user's tokens stop working at once."""
    service.set_enabled(body["usernames"], body["action"])
    return ok(None)


@blp.route("/modify_user_type", methods=["POST"])
@blp.arguments(ModifyUserTypeSchema)
@blp.response(200, NullEnvelope)
def modify_user_type(body):
    """ADMIN only: make users ADMIN or COMMON (never your own role)."""
    service.set_type(body["user_ids"], body["user_type"])
    return ok(None)

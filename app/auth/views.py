from flask import g, request

from app.auth import service
from app.auth.schemas import LoginSchema
from app.core.api import Blueprint, StringEnvelope, ok

blp = Blueprint("user", __name__, url_prefix="/user", description="Log in and refresh bearer tokens")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, StringEnvelope)
def login(body):
    """Exchange a username and password for a bearer token (`data`)."""
    return ok(service.login(body["username"], body["password"]))


@blp.route("/refresh_token", methods=["POST"])
@blp.response(200, StringEnvelope)
@blp.doc(security=[{"bearerAuth": []}])
def refresh_token():
    """A fresh token for a still-valid one."""
    g.principal = service.authenticate(request.headers.get("Authorization"))
    return ok(service.refresh(g.principal))

from flask import g, request

from app.auth import service
from app.auth.schemas import LoginSchema
from app.core.api import Blueprint, StringEnvelope, ok

blp = Blueprint("user", __name__, url_prefix="/user", description="Log in and refresh bearer tokens")


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, StringEnvelope)
@blp.alt_response(429, description="Too many failed logins for this user name or address; see Retry-After")
def login(body):
    """Exchange a username and password for a bearer token (`data`).

    Failed attempts are counted per user name and per client address; past
    BRIDGX_LOGIN_MAX_FAILURES_PER_USER / _PER_ADDRESS within BRIDGX_LOGIN_WINDOW_SECONDS the
    answer is 429 with `Retry-After`, even for the right password."""
    return ok(service.login(body["username"], body["password"], request.remote_addr))


@blp.route("/refresh_token", methods=["POST"])
@blp.response(200, StringEnvelope)
@blp.doc(security=[{"bearerAuth": []}])
def refresh_token():
    """A fresh token for a still-valid one (a token derived from a revoked bxt_ token is not)."""
    g.principal = service.authenticate(request.headers.get("Authorization"))
    return ok(service.refresh(g.principal))

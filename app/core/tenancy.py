"""Who is calling: every /api/v1/ request carries a bearer token; objects are scoped by org."""
from __future__ import annotations

from flask import Flask, g, request

from app.core.errors import Forbidden, NotFound

PUBLIC_API_PATHS = {"/api/v1/openapi.json"}


def install(app: Flask) -> None:
    from app.auth.service import authenticate

    @app.before_request
    def _require_token():
        if request.path.startswith("/api/v1/") and request.path not in PUBLIC_API_PATHS:
            g.principal = authenticate(request.headers.get("Authorization"))


def principal():
    return g.principal


def org_id() -> int:
    return g.principal.org_id


def require_admin() -> None:
    if not g.principal.is_admin:
        raise Forbidden({"reason": "only an organisation admin may do this"})


def owned(obj, what: str = "object"):
    """`obj` when it belongs to the caller's organisation, else 404 (never a hint that it exists)."""
    if obj is None or getattr(obj, "org_id", None) != org_id() or getattr(obj, "deleted_id", 0):
        raise NotFound({what: "not found"})
    return obj

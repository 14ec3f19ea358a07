"""Response hardening every route shares: security headers, no server version, and the
Swagger UI assets served from the pinned swagger-ui-bundle package (no CDN, works offline)."""
from __future__ import annotations

from flask import Flask, current_app, request, send_from_directory

SWAGGER_UI_LOCAL = "/api/swagger-ui/"
SERVER_NAME = "BridgX"  # instead of "Werkzeug/x.y Python/x.y" (and waitress gets it as its ident)


def install(app: Flask) -> None:
    if app.config.get("OPENAPI_SWAGGER_UI_URL") == SWAGGER_UI_LOCAL:
        from swagger_ui_bundle import swagger_ui_path

        @app.route(SWAGGER_UI_LOCAL + "<path:filename>", endpoint="swagger_ui_asset")
        def _swagger_ui_asset(filename):
            return send_from_directory(swagger_ui_path, filename, max_age=24 * 3600)

    @app.after_request
    def _headers(resp):
        headers = resp.headers
        headers["Server"] = SERVER_NAME
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith(SWAGGER_UI_LOCAL) or request.path == "/api/docs":
            headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        else:  # JSON and metrics: nothing to run, nothing to cache (tokens and secrets pass here)
            headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
            headers["Cache-Control"] = "no-store"
        hsts = current_app.config.get("HSTS_SECONDS", 0)
        if hsts > 0:
            headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
        return resp

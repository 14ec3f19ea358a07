"""Our error families, and the one place that turns any exception into the response envelope."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    status = 500
    msg = "internal_error"

    def __init__(self, detail=None):
        super().__init__(detail)
        self.detail = detail


class ParamInvalid(AppError):
    """Bad input; `detail` maps each offending field to its reason."""

    status, msg = 400, "param_invalid"

    def __init__(self, field_or_errors, reason: str | None = None):
        errors = field_or_errors if isinstance(field_or_errors, dict) else {field_or_errors: reason}
        super().__init__(errors)


class Unauthorized(AppError):
    status, msg = 401, "unauthorized"


class Forbidden(AppError):
    status, msg = 403, "forbidden"


class NotFound(AppError):
    status, msg = 404, "not_found"


class Conflict(AppError):
    status, msg = 409, "conflict"


class TooManyRequests(AppError):
    """429 with a Retry-After header (seconds)."""

    status, msg = 429, "too_many_requests"

    def __init__(self, detail=None, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = max(int(retry_after), 1)


class QuotaExceeded(AppError):
    """An operator-set organisation quota would be passed: names the limit, its value and the usage."""

    status, msg = 403, "quota_exceeded"

    def __init__(self, limit: str, value: int, usage: int, requested: int):
        reason = (f"{limit} is {value}; the task asks for {requested}" if limit == "max_instances_per_task" else
                  f"{limit} is {value}; the organisation has {usage} and asks for {requested} more")
        super().__init__({"limit": limit, "value": value, "usage": usage, "requested": requested, "reason": reason})


class CloudFailure(AppError):
    """A provider-side failure the caller cannot fix by changing the request."""

    status, msg = 502, "cloud_error"


def human(detail) -> str:
    """One line for a terminal: {"count": "too big"} → "count: too big"."""
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {human(v)}" if k not in ("", "body") else human(v) for k, v in detail.items())
    if isinstance(detail, (list, tuple)):
        return " ".join(human(v) for v in detail)
    return str(detail) if detail is not None else ""


def one_line(exc: "AppError") -> str:
    """An error for a terminal: "quota_exceeded: limit: ...", or just the fields for a bad parameter."""
    detail = human(exc.detail)
    if not detail:
        return exc.msg
    return detail if exc.msg == "param_invalid" else f"{exc.msg}: {detail}"


HTTP_MSGS = {400: "param_invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found",
             405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
             415: "param_invalid", 429: "too_many_requests"}


def envelope(code: int, msg: str, data=None):
    resp = jsonify({"code": code, "msg": msg, "data": data})
    resp.status_code = code
    return resp


def flatten_messages(messages, prefix: str = "") -> dict:
    """Turn marshmallow's nested error dict into {"a.b.0.c": "reason"}."""
    out = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "" if key == "_schema" else (str(key) or '""')  # an unknown field named "" is not the body
            path = f"{prefix}.{name}" if prefix and name != "" else (prefix or str(name))
            out.update(flatten_messages(value, path))
    elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
        out[prefix or "body"] = " ".join(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out.update(flatten_messages(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "body"] = str(messages)
    return out


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(err: AppError):
        resp = envelope(err.status, err.msg, err.detail)
        if isinstance(err, TooManyRequests):
            resp.headers["Retry-After"] = str(err.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = err.code or 500
        if code == 422 or (code == 400 and getattr(err, "data", None)):
            # webargs/marshmallow validation: {"json": {"field": ["reason"]}}
            messages = (getattr(err, "data", None) or {}).get("messages", {})
            errors = {}
            for location_errors in messages.values():
                errors.update(flatten_messages(location_errors))
            return envelope(400, "param_invalid", errors or None)
        if code >= 500:
            log.error("server error: %s", err, exc_info=getattr(err, "original_exception", None))
            return envelope(500, "internal_error")
        resp = envelope(code, HTTP_MSGS.get(code, "error"), {"body": err.description} if code == 400 else None)
        for name, value in err.get_headers():  # e.g. a 405's Allow (RFC 9110); the body is ours
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        from sqlalchemy.exc import DBAPIError, TimeoutError as PoolTimeout
        if isinstance(err, PoolTimeout) or (isinstance(err, DBAPIError) and err.connection_invalidated) or \
                type(err).__name__ == "OperationalError":
            # The database is down or frozen (the driver's timeouts fired): say so, retryable.
            log.warning("database unavailable: %s", type(getattr(err, "orig", None) or err).__name__)
            resp = envelope(503, "unavailable", {"database": "unavailable, retry later"})
            resp.headers["Retry-After"] = "5"
            return resp
        log.exception("unhandled error")
        return envelope(500, "internal_error")


def register_cloud_error_handler(app: Flask) -> None:
    from app.providers.base import AuthFailed, CloudError, InvalidRequest, NotFound as CloudNotFound, Throttled

    @app.errorhandler(CloudError)
    def _cloud_error(err: CloudError):
        detail = {"code": err.code, "message": err.message, "request_id": err.request_id}
        if isinstance(err, Throttled):
            return envelope(429, "too_many_requests", detail)
        # The cloud rejected what the request named: bad parameters, bad keys, or an object it does
        # not have (an unknown zone or region, a VPC deleted behind the store's back).
        if isinstance(err, (InvalidRequest, AuthFailed, CloudNotFound)):
            return envelope(400, "param_invalid", {"cloud": str(err)})
        return envelope(502, "cloud_error", detail)

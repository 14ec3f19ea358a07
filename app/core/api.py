"""The Blueprint every API area uses: a lenient JSON reader, envelope schemas, `ok()`."""
from __future__ import annotations

import functools
import json
import re

import flask_smorest
import json5
from flask import current_app, jsonify, request
from flask_smorest.utils import resolve_schema_instance
from marshmallow import Schema, ValidationError, fields
from webargs import core
from webargs.flaskparser import FlaskParser, abort

_SURROGATE = re.compile("[\ud800-\udfff]")
# json5 is pure Python and slow on hostile input (a 64 KiB body cost 4-6 s of CPU before login):
# only bodies up to 8 KiB (the manual's trailing-comma examples are under 2 KiB) fall back to it,
# which bounds that work to a few tens of milliseconds per request.
JSON5_MAX_BYTES = 8 * 1024


def _lone_surrogates(body) -> dict:
    """{dotted path: reason} for every string (key or value) holding a lone UTF-16 surrogate:
    `"\\ud800"` is valid JSON but not text, and no database can store it. Iterative, so a deeply
    nested body cannot exhaust the stack here."""
    reason = "is not valid Unicode text (lone surrogate escape)"
    found, todo = {}, [("", body)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                found[path or "body"] = reason
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                found[name] = reason
            else:
                todo.append((name, item))
    # the names go back in the response: escape the surrogates, which UTF-8 cannot encode
    return {name.encode("utf-8", "backslashreplace").decode("utf-8"): why for name, why in found.items()}


class LenientParser(FlaskParser):
    """Reads a JSON body whatever the Content-Type (curl -d sends form-urlencoded), and accepts
    the trailing commas of the manual's own examples (JSON5) when strict JSON fails."""

    DEFAULT_VALIDATION_STATUS = 400  # bad input is a 400 param_invalid (webargs' default is 422)

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data or not data.strip():
            return core.missing
        text = data.decode("utf-8-sig")  # a leading BOM (PowerShell, Notepad) is not an error
        try:
            return json.loads(text)
        except ValueError as strict:
            if len(data) > JSON5_MAX_BYTES:
                raise ValueError(f"{strict} (lenient JSON5 syntax such as trailing commas is accepted "
                                 f"only in bodies up to {JSON5_MAX_BYTES} bytes)") from None
            try:
                return json5.loads(text)
            except ValueError:
                raise strict from None  # the strict parser says where the error is

    def load_querystring(self, req, schema):
        """An empty query value (`provider=`) means "no filter": BridgX clients such as ComandX send
        every filter they know, the unused ones empty. A required key sent empty is still missing."""
        from werkzeug.datastructures import MultiDict
        args = MultiDict([(k, v) for k, v in req.args.items(multi=True) if v != ""])
        return self._makeproxy(args, schema)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        reason = "not UTF-8" if isinstance(error, UnicodeDecodeError) else \
            "nested too deeply" if isinstance(error, RecursionError) else str(error)
        abort(400, exc=error, messages={"json": {"body": [f"Invalid JSON body: {reason}"]}})

    def load_json(self, req, schema):
        try:
            body = self._raw_load_json(req)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            return self._handle_invalid_json_error(exc, req)
        bad = _lone_surrogates(body) if body is not core.missing else {}
        if bad:
            raise ValidationError({key: [reason] for key, reason in bad.items()})
        return body


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = LenientParser()

    def response(self, status_code, schema=None, *, lean: bool = False, **kwargs):
        """flask-smorest's `response`; with `lean=True` the view's data is sent as it is instead of
        through `schema.dump` (still documented by `schema`). For the hot read routes, whose
        services build exactly the documented keys and types: the dump cost about a tenth of their
        CPU. Under TESTING every lean answer is dumped too and must come out unchanged, so a
        service that drifts from its schema fails the suite."""
        documented = super().response(status_code, schema, **kwargs)
        if not lean:
            return documented
        dumper = resolve_schema_instance(schema)

        def decorator(func):
            @functools.wraps(func)
            def send(*args, **kw):
                data = func(*args, **kw)
                if current_app.testing:
                    dumped = dumper.dump(data)
                    if dumped != data:
                        raise AssertionError(f"{request.path}: the lean answer differs from its schema's dump: "
                                             f"{data!r} != {dumped!r}")
                resp = jsonify(data)
                resp.status_code = int(status_code)
                return resp
            return documented(send)
        return decorator


class ErrorEnvelopeSchema(Schema):
    """What every error answers (documentation only): `data` maps field → reason on a 400."""

    code = fields.Integer(metadata={"description": "the HTTP status"})
    msg = fields.String(metadata={"description": "param_invalid, unauthorized, not_found, conflict, ..."})
    data = fields.Raw(allow_none=True, metadata={"description": "details; for 400: {field: reason}"})


class Api(flask_smorest.Api):
    """Documents error responses as our envelope, not flask-smorest's `{code, status, message}`."""

    ERROR_SCHEMA = ErrorEnvelopeSchema


_envelopes: dict[str, type[Schema]] = {}


def envelope_of(name: str, data_field: fields.Field) -> type[Schema]:
    """A named `{code, msg, data}` schema for the OpenAPI document and for dumping responses."""
    if name not in _envelopes:
        _envelopes[name] = Schema.from_dict(
            {"code": fields.Integer(), "msg": fields.String(), "data": data_field}, name=name)
    return _envelopes[name]


def envelope_schema(name: str, data_schema: type[Schema] | Schema, many: bool = False):
    return envelope_of(name, fields.Nested(data_schema, many=many, allow_none=True))


StringEnvelope = envelope_of("StringEnvelope", fields.String(allow_none=True))
IntEnvelope = envelope_of("IntEnvelope", fields.Integer(allow_none=True))
NullEnvelope = envelope_of("NullEnvelope", fields.Raw(allow_none=True))


def ok(data=None) -> dict:
    return {"code": 200, "msg": "success", "data": data}

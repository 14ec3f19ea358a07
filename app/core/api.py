"""The Blueprint every API area uses: a lenient JSON reader, envelope schemas, `ok()`."""
from __future__ import annotations

import json

import flask_smorest
import json5
from marshmallow import Schema, fields
from webargs import core
from webargs.flaskparser import FlaskParser


class LenientParser(FlaskParser):
    """Reads a JSON body whatever the Content-Type (curl -d sends form-urlencoded), and accepts
    the trailing commas of the manual's own examples (JSON5) when strict JSON fails."""

    def _raw_load_json(self, req):
        data = req.get_data(cache=True)
        if not data or not data.strip():
            return core.missing
        text = data.decode("utf-8")
        try:
            return json.loads(text)
        except ValueError:
            return json5.loads(text)  # ValueError here → webargs answers 400 "Invalid JSON body."

    def load_json(self, req, schema):
        try:
            return self._raw_load_json(req)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._handle_invalid_json_error(exc, req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = LenientParser()


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

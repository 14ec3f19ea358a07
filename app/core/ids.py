"""Integer ids from requests: in a path, a comma list, or a body/query field. Every one is
checked against the range a database id can have, so an absurd id is a 400, never a 500.
Region and zone ids are checked against the shape the clouds give them."""
from marshmallow import ValidationError, fields, validate

from app.core.errors import ParamInvalid
from app.providers.endpoints import LOCATION

MAX_ID = 2**31 - 1  # the largest INTEGER id column (MySQL's signed INT); SQLite overflows at 2**63
ID_RANGE = f"must be an integer id between 1 and {MAX_ID}"


def Id(**kwargs) -> fields.Integer:
    """A body or query field holding one id."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID, error=ID_RANGE), **kwargs)


def _is_id(text: str) -> bool:
    # ASCII digits only (int() also takes "１" and " +1_0"), and short: int() refuses 4,300 digits
    return text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= MAX_ID


def parse_id(raw: str, field: str) -> int:
    """A path segment holding one id; anything else is a 400 naming `field`."""
    if not _is_id(raw.strip()):
        raise ParamInvalid(field, ID_RANGE)
    return int(raw)


def parse_ids(raw: str, field: str = "ids") -> list[int]:
    """`"1,2,3"` → [1, 2, 3]; anything else is a 400 naming `field`."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(_is_id(part) for part in parts):
        raise ParamInvalid(field, f"must be a comma-separated list of integer ids between 1 and {MAX_ID}")
    ids = [int(part) for part in parts]
    if not ids or len(ids) > 100:
        raise ParamInvalid(field, "give between 1 and 100 ids")
    return list(dict.fromkeys(ids))


def path_param(name: str, description: str) -> dict:
    """OpenAPI doc of an id path segment (routed as a string so a bad one answers 400, not 404)."""
    return {"in": "path", "name": name, "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


# Region and zone ids: the shape the five clouds give them (providers/endpoints.LOCATION).
LOCATION_RULE = "must be a region or zone id: 1-64 lowercase letters, digits and '-' (like cn-hangzhou-b)"


def is_location(value) -> bool:
    return isinstance(value, str) and bool(LOCATION.fullmatch(value))


def check_location(value) -> None:
    """Validator for region_id / zone_id fields (bodies and query strings): `x@127.0.0.1:PORT/`
    is refused before it reaches a driver that builds a host name from it."""
    if not is_location(value):
        raise ValidationError(LOCATION_RULE)

from app.core.errors import ParamInvalid


def parse_ids(raw: str, field: str = "ids") -> list[int]:
    """`"1,2,3"` → [1, 2, 3]; anything else is a 400 naming `field`."""
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ParamInvalid(field, "must be a comma-separated list of integer ids")
    if not ids or len(ids) > 100:
        raise ParamInvalid(field, "give between 1 and 100 ids")
    return list(dict.fromkeys(ids))

"""Small helpers shared by the drivers (no SDK imports here)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable, Optional
from urllib.parse import urlsplit

from app.providers.base import DELETED, CloudUnavailable, NotFound, Provider


def json_body(raw, provider: str, api: str) -> dict:
    """A reply's JSON object ({} when empty); a reply that is not one (a proxy's HTML page, a
    truncated body) is the cloud's failure (a clean 502), not ours, and its text is not quoted."""
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CloudUnavailable(f"{provider} answered {api} with something that is not a JSON object",
                               "InvalidResponse")
    return body


def price_text(value: float) -> str:
    """A price as the plain decimal string the spot APIs take: 0.05 -> "0.05", 1e-05 -> "0.00001"."""
    return format(Decimal(str(value)).normalize(), "f")


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """("http", "127.0.0.1:8900") from "http://127.0.0.1:8900"; https when no scheme is given."""
    if "://" not in endpoint:
        return "https", endpoint.rstrip("/")
    parts = urlsplit(endpoint)
    return parts.scheme, parts.netloc


def parse_time(value, naive_tz: timezone = timezone.utc) -> Optional[datetime]:
    """A timezone-aware datetime from a cloud's timestamp (ISO 8601 or "YYYY-MM-DD HH:MM:SS").

    A timestamp without an offset is taken to be in `naive_tz`; None when unparsable.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=naive_tz)
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)


def delete_tolerating_gone(provider: Provider, instance_ids: list[str],
                           delete: Callable[[list[str]], None], rounds: int = 3) -> None:
    """Call delete(ids); when the cloud says some id is unknown, delete only those still alive.

    Clouds reject a whole batch for one unknown id; a replayed or resumed shrink must still
    succeed, so the batch is re-asked after dropping ids the cloud no longer knows or that are
    already going away.
    """
    ids = list(instance_ids)
    for attempt in range(rounds):
        try:
            delete(ids)
            return
        except NotFound:
            if attempt == rounds - 1:
                raise
        ids = [i.instance_id for i in provider.describe_instances(ids) if i.status != DELETED]
        if not ids:
            return

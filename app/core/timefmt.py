"""Times as the contract shows them: `2021-11-12 09:38:31 +0800 CST` in the deployment's zone."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def deployment_zone() -> ZoneInfo:
    return _zone(current_app.config["TIMEZONE"])


def fmt(dt: datetime | None) -> str:
    """Format a naive-UTC timestamp for a response; None → ""."""
    if dt is None:
        return ""
    local = dt.replace(tzinfo=timezone.utc).astimezone(deployment_zone())
    return local.strftime("%Y-%m-%d %H:%M:%S %z %Z")


def fmt_plain(dt: datetime | None) -> str:
    """`2021-11-18 11:23:07` in the deployment's zone, no offset (BridgX's user and org routes); None → ""."""
    if dt is None:
        return ""
    return dt.replace(tzinfo=timezone.utc).astimezone(deployment_zone()).strftime("%Y-%m-%d %H:%M:%S")

"""Region and zone ids checked against the catalogue where it is known: a fresh cached region
(or zone) list of the account that lacks the id is a 400 naming the field, before any cloud call.
Nothing cached, or only a stale copy: the id's shape (schemas) is all that is checked here, and the
cloud has the last word."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.catalog.models import CatalogEntry
from app.core.db import utcnow
from app.core.errors import ParamInvalid
from app.extensions import db


def _fresh_ids(account_id: int, kind: str, region_id: str, key: str) -> set | None:
    entry = db.session.scalar(select(CatalogEntry).where(
        CatalogEntry.account_id == account_id, CatalogEntry.kind == kind,
        CatalogEntry.region_id == region_id, CatalogEntry.zone_id == ""))
    if entry is None or not entry.items:
        return None
    if (utcnow() - entry.refreshed_at).total_seconds() >= current_app.config["CATALOG_TTL_SECONDS"]:
        return None
    return {item.get(key) for item in entry.items}


def check_known(account_id: int | None, region_id: str | None = None, zone_id: str | None = None,
                region_field: str = "region_id", zone_field: str = "zone_id") -> None:
    if account_id is None:
        return
    if region_id:
        regions = _fresh_ids(account_id, "regions", "", "RegionId")
        if regions is not None and region_id not in regions:
            raise ParamInvalid(region_field, f"unknown region {region_id!r}: not in this account's region list")
    if region_id and zone_id:
        zones = _fresh_ids(account_id, "zones", region_id, "ZoneId")
        if zones is not None and zone_id not in zones:
            raise ParamInvalid(zone_field, f"unknown zone {zone_id!r} in {region_id}")

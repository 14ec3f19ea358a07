"""The catalogue cache: each list is fetched from the cloud on first use, kept for
CATALOG_TTL_SECONDS, refreshed by a periodic job, and served stale (with a warning) while the
cloud fails."""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.accounts import service as accounts
from app.accounts.models import CloudAccount
from app.catalog.models import CatalogEntry
from app.core.db import transaction, utcnow
from app.core.errors import ParamInvalid
from app.extensions import db
from app.network.service import account_by_key, provider_for
from app.providers import base

log = logging.getLogger(__name__)

REGIONS, ZONES, INSTANCE_TYPES, IMAGES = "regions", "zones", "instance_types", "images"


def _number(value: float):
    return int(value) if float(value).is_integer() else value


def _fetch(cloud: base.Provider, kind: str, zone_id: str) -> list[dict]:
    """One list from the cloud, shaped as the API answers it."""
    if kind == REGIONS:
        return [{"RegionId": r.region_id, "LocalName": r.local_name} for r in cloud.list_regions()]
    if kind == ZONES:
        return [{"ZoneId": z.zone_id, "LocalName": z.local_name} for z in cloud.list_zones()]
    if kind == INSTANCE_TYPES:
        return [{"instance_type_family": t.family, "instance_type": t.instance_type, "core": t.cores,
                 "memory": _number(t.memory_gb)} for t in cloud.list_instance_types(zone_id or None)]
    return [{"OsType": i.os_type, "OsName": i.os_name, "ImageId": i.image_id} for i in cloud.list_images()]


def _entry(account_id: int, kind: str, region_id: str, zone_id: str) -> CatalogEntry | None:
    return db.session.scalar(select(CatalogEntry).where(
        CatalogEntry.account_id == account_id, CatalogEntry.kind == kind,
        CatalogEntry.region_id == region_id, CatalogEntry.zone_id == zone_id))


def _age(entry: CatalogEntry) -> float:
    return (utcnow() - entry.refreshed_at).total_seconds()


def _store(account_id: int, kind: str, region_id: str, zone_id: str, items: list[dict]) -> None:
    for attempt in (1, 2):  # a concurrent first fill may insert the same entry: then update it
        try:
            with transaction():
                entry = _entry(account_id, kind, region_id, zone_id)
                if entry is None:
                    entry = CatalogEntry(account_id=account_id, kind=kind, region_id=region_id, zone_id=zone_id)
                    db.session.add(entry)
                entry.items, entry.refreshed_at = items, utcnow()
            return
        except IntegrityError:
            if attempt == 2:
                raise


def refresh(acc: CloudAccount, kind: str, region_id: str = "", zone_id: str = "") -> list[dict]:
    """Fetch one list from the cloud and cache it."""
    cloud = provider_for(acc, region_id or None)
    account_id = acc.id
    db.session.commit()  # no database transaction held across the cloud call
    items = _fetch(cloud, kind, zone_id)
    _store(account_id, kind, region_id, zone_id, items)
    return items


def cached(acc: CloudAccount, kind: str, region_id: str = "", zone_id: str = "") -> list[dict]:
    """The list from the cache while fresh; else from the cloud, or the stale copy if the cloud fails."""
    entry = _entry(acc.id, kind, region_id, zone_id)
    if entry is not None and _age(entry) < current_app.config["CATALOG_TTL_SECONDS"]:
        return entry.items
    stale = entry.items if entry is not None else None
    try:
        return refresh(acc, kind, region_id, zone_id)
    except base.CloudError as exc:
        if stale is None:
            raise
        log.warning("%s %s of account %s: the cloud failed (%s); serving the cached copy",
                    kind, region_id or "-", acc.id, exc)
        return stale


# ---------------------------------------------------------------- the routes
def _account(args: dict) -> CloudAccount:
    """The account named by `account_key`, else the organisation's first of the provider."""
    provider = args["provider"]
    if args.get("account_key"):
        return account_by_key(provider, args["account_key"], "account_key")
    acc = accounts.first_of_provider(provider)
    if acc is None:
        raise ParamInvalid("provider", f"an account is needed: your organisation has no {provider} cloud account")
    return acc


def _check(items: list[dict], key: str, value: str, field: str, where: str) -> None:
    if items and value not in {item[key] for item in items}:
        raise ParamInvalid(field, f"unknown {field} {value!r} {where}")


def regions(args: dict) -> list[dict]:
    return cached(_account(args), REGIONS)


def _region_account(args: dict) -> CloudAccount:
    acc = _account(args)
    _check(cached(acc, REGIONS), "RegionId", args["region_id"], "region_id", f"for {args['provider']}")
    return acc


def zones(args: dict) -> list[dict]:
    return cached(_region_account(args), ZONES, args["region_id"])


def instance_types(args: dict) -> list[dict]:
    acc = _region_account(args)
    _check(cached(acc, ZONES, args["region_id"]), "ZoneId", args["zone_id"], "zone_id", f"in {args['region_id']}")
    items = cached(acc, INSTANCE_TYPES, args["region_id"], args["zone_id"])
    items = [dict(i, **bridgx_instance_type(args["provider"], i)) for i in items]
    if args.get("computing_power_type"):
        items = [i for i in items if i["is_gpu"] == (args["computing_power_type"] == "GPU")]
    return items


def images(args: dict) -> list[dict]:
    items = cached(_region_account(args), IMAGES, args["region_id"])
    if args.get("image_type") in ("private", "shared"):
        return []  # the catalogue holds the clouds' public images only
    return [dict(i, **bridgx_image(i)) for i in items]


# ---------------------------------------------------------------- BridgX's keys beside the manual's
# GPU families by the prefix of their instance type (the provider interface carries no GPU count).
GPU_PREFIXES = {"AlibabaCloud": ("ecs.gn", "ecs.vgn", "ecs.sgn", "ecs.ebmgn"),
                "TencentCloud": ("GN", "GI", "GT", "PNV"),
                "AWSCloud": ("p2.", "p3.", "p4", "p5", "g3", "g4", "g5", "g6", "inf", "trn", "dl1."),
                "HuaweiCloud": ("p1", "p2", "pi1", "pi2", "g5", "g6"),
                "BaiduCloud": ("bcc.gn", "bcc.vgn", "bcc.gi")}
PLATFORMS = ("CentOS", "Ubuntu", "Debian", "Windows", "Alibaba Cloud Linux", "Aliyun", "Red Hat", "RHEL", "SUSE",
             "OpenSUSE", "CoreOS", "FreeBSD", "Fedora", "Rocky", "AlmaLinux", "Amazon Linux", "EulerOS", "openEuler",
             "TencentOS", "Anolis", "Kylin", "UOS")


def bridgx_instance_type(provider: str, item: dict) -> dict:
    """What ComandX's type picker filters on: `charge_type` "All" (either billing), `is_gpu`."""
    return {"charge_type": "All", "is_gpu": item["instance_type"].startswith(GPU_PREFIXES.get(provider, ())),
            "status": "Available"}


def bridgx_image(item: dict) -> dict:
    """BridgX's snake_case image row; `platform` is the OS family named in the image's name, and
    `size` 0 means the catalogue does not know it."""
    text = f"{item['OsName']} {item['ImageId']}".lower()
    platform = next((p for p in PLATFORMS if p.lower() in text), (item["OsType"] or "").capitalize())
    return {"platform": platform, "os_type": item["OsType"], "os_name": item["OsName"], "size": 0,
            "image_id": item["ImageId"], "image_name": item["OsName"]}


# ---------------------------------------------------------------- the periodic job
def refresh_all(max_age: float = 0.0) -> dict:
    """Refresh every cached list older than `max_age` seconds (0: all) and fill the region list
    of every live account that has none. A cloud failure is logged and the old copy kept."""
    counts = {"refreshed": 0, "failed": 0}
    for acc in db.session.scalars(select(CloudAccount).where(CloudAccount.deleted_id == 0)
                                  .order_by(CloudAccount.id)).all():
        entries = db.session.scalars(select(CatalogEntry).where(CatalogEntry.account_id == acc.id)).all()
        due = [(e.kind, e.region_id, e.zone_id) for e in entries if _age(e) >= max_age]
        if not any(e.kind == REGIONS for e in entries):
            due.append((REGIONS, "", ""))
        for kind, region_id, zone_id in due:
            try:
                refresh(acc, kind, region_id, zone_id)
                counts["refreshed"] += 1
            except (base.CloudError, ParamInvalid) as exc:
                log.warning("catalogue refresh of %s %s %s (account %s) failed: %s",
                            kind, region_id or "-", zone_id or "-", acc.id, exc)
                counts["failed"] += 1
    log.info("catalogue refresh: %s", counts)
    return counts


def refresh_due() -> dict:
    """The beat job: refresh lists past half their freshness, so requests rarely wait on the cloud."""
    return refresh_all(max_age=current_app.config["CATALOG_TTL_SECONDS"] / 2)

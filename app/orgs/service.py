"""The caller's organisation: anyone reads it, an ADMIN renames it; others' are 404."""
from __future__ import annotations

import logging

from sqlalchemy import select

from app.auth.models import Organization
from app.core.db import transaction, utcnow
from app.core.errors import Conflict, NotFound
from app.core.tenancy import org_id, principal, require_admin
from app.core.timefmt import fmt_plain
from app.extensions import db

log = logging.getLogger(__name__)


def get(wanted: int, field: str = "id") -> Organization:
    org = db.session.get(Organization, wanted) if wanted == org_id() else None
    if org is None:
        raise NotFound({field: "not found"})
    return org


def to_dict(org: Organization) -> dict:
    return {"id": org.id, "org_name": org.name, "create_at": fmt_plain(org.created_at),
            "update_at": fmt_plain(org.updated_at or org.created_at)}


def rename(wanted: int, name: str) -> Organization:
    require_admin()
    with transaction():
        org = get(wanted, "org_id")
        if name != org.name:
            if db.session.scalar(select(Organization.id).where(Organization.name == name)):
                raise Conflict({"org_name": "another organisation has this name"})
            old, org.name, org.updated_at = org.name, name, utcnow()
            log.info("organisation %s renamed from %r to %r by %s", org.id, old, name, principal().username)
    return org

"""The deployment id: a short name for this installation, created once and stored in the database.

It prefixes every machine tag and client token we issue, so two installations sharing a cloud
account never adopt or delete each other's machines. It used to be derived from
BRIDGX_SECRET_KEY, so rotating the secret renamed the fleet; now it is a row written once (by
migration r16b or, on a database built without it, at first use) and never derived again. On a
database that already holds machines or tasks the stored id is the one the old derivation gave
for the secret in force at that moment, so every tag and token already issued keeps matching.
"""
from __future__ import annotations

import hashlib
import uuid

from flask import current_app
from sqlalchemy import Integer, String, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class Deployment(db.Model):
    """One row (id 1)."""

    __tablename__ = "deployment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(32))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


def legacy_id(secret: str) -> str:
    """The id earlier versions derived from the secret key (kept only to adopt old fleets)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def deployment_id() -> str:
    """The stored id; the row is created on first use if no migration wrote it."""
    found = db.session.scalar(select(Deployment.deployment_id).where(Deployment.id == 1))
    if found:
        return found
    from app.instances.models import Instance
    from app.tasks.models import Task
    has_history = (db.session.scalar(select(func.count()).select_from(Instance)) or
                   db.session.scalar(select(func.count()).select_from(Task)))
    new = legacy_id(current_app.config["SECRET_KEY"]) if has_history else uuid.uuid4().hex[:8]
    try:  # its own connection: the caller's session keeps whatever it holds
        with db.engine.begin() as conn:
            conn.execute(insert(Deployment).values(id=1, deployment_id=new, created_at=utcnow()))
    except IntegrityError:  # another process wrote it first
        pass
    with db.engine.connect() as conn:  # a fresh snapshot sees the row whoever wrote it
        return conn.scalar(select(Deployment.deployment_id).where(Deployment.id == 1)) or new

"""Database helpers: the transaction boundary, UTC timestamps, soft delete."""
from __future__ import annotations

import contextlib
from datetime import datetime, timezone

from flask import g, has_app_context
from sqlalchemy import DateTime, TypeDecorator
from sqlalchemy.dialects import mysql

from app.extensions import db


def utcnow() -> datetime:
    """Naive UTC now; every timestamp in the database is naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class UTCDateTime(TypeDecorator):
    """Naive-UTC datetime with microseconds on MySQL too (billing counts seconds exactly)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value


@contextlib.contextmanager
def transaction():
    """Commit on success, roll back on error; a no-op when nested inside another transaction()."""
    depth = getattr(g, "_tx_depth", 0) if has_app_context() else 0
    if depth:
        yield db.session
        return
    if has_app_context():
        g._tx_depth = 1
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        if has_app_context():
            g._tx_depth = 0

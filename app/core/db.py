"""Database helpers: the transaction boundary, UTC timestamps, soft delete."""
from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timezone

from flask import g, has_app_context
from sqlalchemy import DateTime, TypeDecorator, case, event, exc, literal, update
from sqlalchemy.dialects import mysql

from app.extensions import db


log = logging.getLogger(__name__)

# A pooled connection used this recently is handed out without a ping (a round trip on every
# request and every task step otherwise); one idle longer is pinged first, and if the ping fails
# (a restarted or failed-over server, a dropped network path) it and every older connection of the
# pool are replaced.
PING_IDLE_SECONDS = 5.0
_LAST_USED, _CLEAN = "bridgx_last_used", "bridgx_clean"


def install_pool(engine) -> None:
    """What `pool_pre_ping` and the pool's rollback-on-return did (config.engine_options turns both
    off), without their cost on the hot path:

    - a connection is pinged at checkout only when it sat idle for PING_IDLE_SECONDS or more;
    - on return it is rolled back unless its last statement was followed by a commit or rollback
      (the ORM rolls back when a session closes, and the pool then sent a second ROLLBACK)."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        record.info[_CLEAN] = False  # unknown until a commit or rollback says otherwise
        last = record.info.get(_LAST_USED)
        if last is None or time.monotonic() - last < PING_IDLE_SECONDS or dialect.name == "sqlite":
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001 - any failed ping: this connection is unusable
            log.info("a pooled database connection idle %.0f s failed its ping (%s); opening a new one",
                     time.monotonic() - last, type(error).__name__)
            raise exc.InvalidatePoolError("ping failed") from None  # as pre-ping: every older connection too

    @event.listens_for(engine.pool, "connect")
    def _connected(_dbapi_connection, record):
        record.info.pop(_LAST_USED, None)  # a new connection (also after an invalidation) needs no ping

    @event.listens_for(engine.pool, "checkin")
    def _checkin(_dbapi_connection, record):
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine.pool, "reset")
    def _reset(dbapi_connection, record, state):
        if state.terminate_only or state.transaction_was_reset or (record is not None and record.info.get(_CLEAN)):
            return
        dbapi_connection.rollback()  # an error here invalidates the connection (the pool's own handling)

    def mark(conn, clean: bool) -> None:
        if not (conn.invalidated or conn.closed):  # (else there is no DBAPI connection to mark)
            conn.info[_CLEAN] = clean

    @event.listens_for(engine, "before_cursor_execute")
    def _dirty(conn, *_args):
        mark(conn, False)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn):
        mark(conn, True)

    @event.listens_for(engine, "handle_error")
    def _failed(context):
        if context.connection is not None:
            mark(context.connection, False)


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


UPDATE_ROWS_CHUNK = 500


def update_rows(model, rows: list[dict]) -> None:
    """Update many rows of `model` by id, each with its own values, in one statement per 500 rows:
    a value all the rows share is set as is, one that differs becomes a CASE on the id (a row
    without that key keeps its value). SQLAlchemy's bulk update by primary key sends one UPDATE per
    row on PyMySQL and SQLite, a round trip each: 20,000 of them for a 20,000-machine fleet."""
    for start in range(0, len(rows), UPDATE_ROWS_CHUNK):
        chunk = rows[start:start + UPDATE_ROWS_CHUNK]
        keys = {key for row in chunk for key in row} - {"id"}
        values = {}
        for key in sorted(keys):
            column = getattr(model, key)
            first = chunk[0].get(key, _MISSING)
            if first is not _MISSING and all(row.get(key, _MISSING) == first for row in chunk):
                values[key] = first
            else:
                values[key] = case({row["id"]: literal(row[key], column.type) for row in chunk if key in row},
                                   value=model.id, else_=column)
        db.session.execute(update(model).where(model.id.in_([row["id"] for row in chunk])).values(values)
                           .execution_options(synchronize_session=False))


_MISSING = object()


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

"""Database round trips. The pool: no ping for a connection just used, one rollback per request
(not the ORM's and then the pool's), and still a ping and a new connection after idling, and a
rollback for a connection handed back in the middle of a transaction. Writes: many rows, each with
its own values, in one UPDATE per 500 rows."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from app.core import db as core_db
from app.extensions import db


@pytest.fixture
def wire(app, monkeypatch):
    """What the app's connections send besides queries: a list of "PING" / "ROLLBACK" / SQL."""
    sent: list[str] = []
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        pool = engine.pool

        def trace(dbapi_connection, _record, _proxy):  # from its next checkout on, a connection is traced
            dbapi_connection.set_trace_callback(lambda sql: sent.append(sql.strip().upper()))
        event.listen(pool, "checkout", trace)
        yield sent
        event.remove(pool, "checkout", trace)
        for rec in list(pool._pool.queue):
            rec.dbapi_connection.set_trace_callback(None)
        return
    import pymysql.connections as conns
    ping, rollback = conns.Connection.ping, conns.Connection.rollback

    def counted_ping(self, *args, **kwargs):
        sent.append("PING")
        return ping(self, *args, **kwargs)

    def counted_rollback(self):
        sent.append("ROLLBACK")
        return rollback(self)
    monkeypatch.setattr(conns.Connection, "ping", counted_ping)
    monkeypatch.setattr(conns.Connection, "rollback", counted_rollback)
    yield sent


def _pings(sent):
    return [s for s in sent if s in ("PING", "SELECT 1")]  # SQLAlchemy's pre-ping on SQLite: SELECT 1


def test_a_read_request_sends_no_ping_and_rolls_back_once(api, wire):
    assert api.get("cluster/describe_all")[0] == 200  # the pool's connection, used just now
    wire.clear()
    status, body = api.get("cluster/describe_all")
    assert status == 200 and body["code"] == 200
    assert _pings(wire) == [], wire
    assert wire.count("ROLLBACK") <= 1, wire


def test_a_connection_idle_too_long_is_pinged_and_a_dead_one_replaced(app, api, wire, monkeypatch):
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        pytest.skip("a SQLite file has no server to lose: its connections are never pinged")
    assert api.get("cluster/describe_all")[0] == 200
    with engine.connect() as one, engine.connect() as two:  # the pool holds two connections
        one.execute(text("SELECT 1")), two.execute(text("SELECT 1"))
    # kill every connection the pool holds, from outside, as a server restart would
    held = [rec.dbapi_connection for rec in list(engine.pool._pool.queue)]
    assert len(held) >= 2
    outside = create_engine(engine.url, poolclass=NullPool)
    with outside.connect() as killer:
        for conn in held:
            killer.execute(text(f"KILL {conn.thread_id()}"))
    outside.dispose()
    monkeypatch.setattr(core_db, "PING_IDLE_SECONDS", 0.0)
    wire.clear()
    status, body = api.get("cluster/describe_all")
    assert status == 200 and body["code"] == 200, body
    assert wire.count("PING") == 1, wire  # the failed ping replaced the whole pool: no second one fails
    monkeypatch.setattr(core_db, "PING_IDLE_SECONDS", 3600.0)  # used just now: no ping, and none dead
    for _ in range(3):
        assert api.get("cluster/describe_all")[0] == 200


def test_a_connection_handed_back_mid_transaction_is_rolled_back(app, ctx):
    table = "organizations"
    before = db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    db.session.remove()
    raw = db.engine.raw_connection()  # no ORM, no Connection: only the pool can roll this back
    cur = raw.cursor()
    cur.execute(f"INSERT INTO {table} (name, created_at) VALUES ('left-open', CURRENT_TIMESTAMP)")
    cur.close()
    raw.close()
    assert db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar() == before


def test_update_rows_writes_each_rows_own_values_in_one_statement_per_500(app, ctx):
    from datetime import datetime

    from sqlalchemy import insert, select

    from app.auth.models import Organization
    from app.core.db import update_rows
    db.session.execute(insert(Organization), [{"name": f"org-{n}", "created_at": datetime(2026, 1, 1)}
                                              for n in range(1100)])
    db.session.commit()
    ids = db.session.scalars(select(Organization.id).order_by(Organization.id)).all()
    stamp = datetime(2026, 12, 2, 10, 0, 0, 123456)
    rows = [{"id": i, "name": f"renamed-{i}", "updated_at": stamp} for i in ids]
    del rows[7]["updated_at"]  # this row keeps its own
    updates = []

    def count(_conn, _cursor, statement, parameters, _context, executemany):
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(len(parameters) if executemany else 1)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        update_rows(Organization, rows)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.remove()
    got = {o.id: o for o in db.session.scalars(select(Organization))}
    assert all(got[i].name == f"renamed-{i}" for i in ids)
    assert [i for i in ids if got[i].updated_at != stamp] == [ids[7]] and got[ids[7]].updated_at is None
    assert updates == [1, 1, 1], updates  # 500 + 500 + 100 rows

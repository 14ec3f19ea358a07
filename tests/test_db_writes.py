"""Database writes: many rows, each with its own values, in one UPDATE per 500 rows (not one
statement, a round trip on PyMySQL, per row)."""
from __future__ import annotations

from sqlalchemy import event

from app.extensions import db


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

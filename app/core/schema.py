"""The database schema: the Alembic migrations under migrations/, applied by `manage.py migrate`,
the embedded start and the tests.

Flask-Migrate (and with it Alembic, about 11 MB) is imported only here, when a schema change is
applied: the API, the Celery workers and beat build the app without it.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask

MIGRATIONS = str(Path(__file__).resolve().parent.parent.parent / "migrations")


def upgrade(app: Flask, revision: str = "head") -> None:
    """Bring the app's database to `revision` (inside an app context)."""
    import flask_migrate

    from app.extensions import db
    if "migrate" not in app.extensions:
        flask_migrate.Migrate(app, db, directory=MIGRATIONS, render_as_batch=True)
    flask_migrate.upgrade(directory=MIGRATIONS, revision=revision)

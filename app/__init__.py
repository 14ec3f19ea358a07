"""BridgX-Py: a multi-cloud elastic scaling control plane speaking the BridgX developer API."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import BaseConfig, load_config

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
BLUEPRINTS = ("app.auth.views", "app.accounts.views", "app.clusters.views", "app.tasks.views", "app.health.views",
              "app.instances.views", "app.usage.views", "app.network.views", "app.catalog.views",
              "app.metrics.views", "app.elastic.views")


def create_app(config: BaseConfig | None = None) -> Flask:
    from app.core import errors, tenancy
    from app.extensions import api, db, migrate

    config = config or load_config()
    app = Flask(__name__)
    app.config.update(config.as_dict())
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    importlib.import_module("app.models")  # every table in the metadata
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]

    for module in BLUEPRINTS:
        api.register_blueprint(importlib.import_module(module).blp)
    errors.register_error_handlers(app)  # after api.init_app: ours replace flask-smorest's
    errors.register_cloud_error_handler(app)
    tenancy.install(app)
    _configure_providers(app)

    from workers import celery_init_app
    celery_init_app(app)
    return app


# Cloud SDK loggers write whole requests at DEBUG (instance passwords and signed headers
# included): they stay at WARNING whatever the root level is.
# (Huawei's SDK logs to its own non-propagating loggers; its driver silences them.)
SDK_LOGGERS = ("tencentcloud_sdk_common", "botocore", "boto3", "urllib3", "baidubce", "Tea")


def _configure_providers(app: Flask) -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from app.providers import registry
    except ImportError:  # the provider layer is optional until its drivers land
        return
    from app.metrics.collectors import install
    install()
    registry.configure(registry.ProviderSettings(
        redis_url=app.config["REDIS_URL"], rate_overrides=app.config["PROVIDER_RATE_OVERRIDES"],
        max_attempts=app.config["PROVIDER_MAX_ATTEMPTS"]))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL and a busy timeout let the API, the worker and beat share one SQLite file."""
    import sqlite3
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

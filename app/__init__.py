"""BridgX-Py: a multi-cloud elastic scaling control plane speaking the BridgX developer API."""
from __future__ import annotations

import importlib
import logging

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import BaseConfig, load_config

BLUEPRINTS = ("app.auth.views", "app.auth.token_views", "app.accounts.views", "app.clusters.views", "app.tasks.views", "app.health.views",
              "app.instances.views", "app.usage.views", "app.network.views", "app.catalog.views",
              "app.metrics.views", "app.users.views", "app.orgs.views", "app.custom.views",
              "app.elastic.views")


def create_app(config: BaseConfig | None = None) -> Flask:
    from app.core import errors, logs, security, tenancy
    from app.extensions import api, db

    config = config or load_config()
    app = Flask(__name__)
    app.config.update(config.as_dict())
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    logs.setup(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    logs.install_flask(app)

    importlib.import_module("app.models")  # every table in the metadata
    db.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]

    for module in BLUEPRINTS:
        api.register_blueprint(importlib.import_module(module).blp)
    errors.register_error_handlers(app)  # after api.init_app: ours replace flask-smorest's
    errors.register_cloud_error_handler(app)
    tenancy.install(app)
    from app.metrics.collectors import install_http
    install_http(app)
    _configure_providers(app)

    security.install(app)
    if app.config["CHECK_ENCRYPTION_KEY"]:
        _check_encryption_key(app)

    from workers import celery_init_app
    celery_init_app(app)
    return app


def _check_encryption_key(app: Flask) -> None:
    """Refuse to start when the key cannot decrypt the stored secrets (one clear line, no 500s
    later); a key file this very start created is removed again, so nothing changes on disk."""
    import os

    from app.core.keys import KeyMismatch, check_key
    from config import ConfigError
    with app.app_context():
        try:
            check_key()
        except KeyMismatch as exc:
            created = app.config.get("ENCRYPTION_KEY_FILE_CREATED")
            if created:
                os.unlink(created)
                raise ConfigError(f"{exc} (the key file {created} was missing)") from None
            raise ConfigError(str(exc)) from None


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
    from app.providers.endpoints import parse_allowlist
    from config import ConfigError
    try:
        allowlist = parse_allowlist(app.config["ENDPOINT_ALLOWLIST"])
    except ValueError as exc:
        raise ConfigError(f"BRIDGX_ENDPOINT_ALLOWLIST: {exc}") from None
    registry.configure(registry.ProviderSettings(
        redis_url=app.config["REDIS_URL"], rate_overrides=app.config["PROVIDER_RATE_OVERRIDES"],
        max_attempts=app.config["PROVIDER_MAX_ATTEMPTS"], endpoint_allowlist=allowlist))


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

"""Configuration classes. Every setting comes from a `BRIDGX_*` environment variable.

`EmbeddedConfig` (the default) needs no server: a SQLite file and a SQLite-backed Celery broker
under BRIDGX_HOME. `ProductionConfig` expects MySQL and Redis and refuses to start without its
secrets. `TestConfig` is what the test suite uses.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def env(name: str, default=None):
    return os.environ.get(f"BRIDGX_{name}", default)


def env_int(name: str, default: int) -> int:
    return int(env(name, default))


def env_float(name: str, default: float) -> float:
    return float(env(name, default))


def env_bool(name: str, default: bool) -> bool:
    return str(env(name, "1" if default else "0")).lower() in ("1", "true", "yes", "on")


class ConfigError(RuntimeError):
    """The configuration cannot start a safe service."""


class BaseConfig:
    def __init__(self):
        self.HOME = Path(env("HOME", "./instance")).resolve()
        self.TIMEZONE = env("TIMEZONE", "Asia/Shanghai")
        self.TOKEN_TTL_SECONDS = env_int("TOKEN_TTL_SECONDS", 12 * 3600)
        self.SQLALCHEMY_DATABASE_URI = env("DATABASE_URL")
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.CELERY_BROKER_URL = env("BROKER_URL")
        self.CELERY_RESULT_BACKEND = env("RESULT_BACKEND")
        self.REDIS_URL = env("REDIS_URL")  # shared rate limiter budget across worker processes
        self.SECRET_KEY = env("SECRET_KEY")
        self.ENCRYPTION_KEYS = env("ENCRYPTION_KEY")  # comma list of Fernet keys, newest first
        self.VERIFY_ACCOUNTS = env_bool("VERIFY_ACCOUNTS", True)
        self.WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 8)
        # Scaling engine
        self.SCALE_BATCH_CONCURRENCY = env_int("SCALE_BATCH_CONCURRENCY", 16)
        self.SCALE_READY_TIMEOUT = env_float("SCALE_READY_TIMEOUT", 600.0)
        self.SCALE_HEARTBEAT_SECONDS = env_float("SCALE_HEARTBEAT_SECONDS", 5.0)
        self.SCALE_STALE_SECONDS = env_float("SCALE_STALE_SECONDS", 30.0)
        self.RECONCILE_SECONDS = env_float("RECONCILE_SECONDS", 60.0)
        # Elastic clusters (app/elastic)
        self.ELASTIC_CONTROLLER_SECONDS = env_float("ELASTIC_CONTROLLER_SECONDS", 15.0)
        self.ELASTIC_LEASE_SECONDS = env_float("ELASTIC_LEASE_SECONDS", 60.0)
        self.ELASTIC_RETRY_SECONDS = env_float("ELASTIC_RETRY_SECONDS", 60.0)
        self.CAPACITY_CACHE_SECONDS = env_float("CAPACITY_CACHE_SECONDS", 300.0)
        self.SCHEDULE_GRACE_SECONDS = env_float("SCHEDULE_GRACE_SECONDS", 300.0)
        self.CATALOG_TTL_SECONDS = env_int("CATALOG_TTL_SECONDS", 24 * 3600)
        # Provider call policy: {"AlibabaCloud": {"RunInstances": 5, "*": 20}}
        self.PROVIDER_RATE_OVERRIDES = json.loads(env("PROVIDER_RATES", "{}"))
        self.PROVIDER_MAX_ATTEMPTS = env_int("PROVIDER_MAX_ATTEMPTS", 8)
        self.DEBUG = False
        self.TESTING = False
        self.EAGER_TASKS = False
        # flask-smorest / OpenAPI
        self.API_TITLE = "BridgX-Py"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api"
        self.OPENAPI_JSON_PATH = "v1/openapi.json"
        self.OPENAPI_SWAGGER_UI_PATH = "docs"
        self.OPENAPI_SWAGGER_UI_URL = env("SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/")
        self.JSON_SORT_KEYS = False
        # Request bodies: the largest legitimate one (cluster/shrink with 50,000 IPs) is about 1 MB.
        self.MAX_CONTENT_LENGTH = 8 * 1024 * 1024

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}


class EmbeddedConfig(BaseConfig):
    """One machine, no servers: SQLite database and SQLite broker under BRIDGX_HOME."""

    def __init__(self):
        super().__init__()
        self.HOME.mkdir(parents=True, exist_ok=True)
        self.SQLALCHEMY_DATABASE_URI = self.SQLALCHEMY_DATABASE_URI or f"sqlite:///{self.HOME / 'bridgx.sqlite'}"
        self.CELERY_BROKER_URL = self.CELERY_BROKER_URL or f"bxsqla+sqlite:///{self.HOME / 'broker.sqlite'}"
        self.SECRET_KEY = self.SECRET_KEY or _home_secret(self.HOME / "secret_key", lambda: secrets.token_urlsafe(48))
        self.ENCRYPTION_KEYS = self.ENCRYPTION_KEYS or _home_secret(self.HOME / "encryption_key", _fernet_key)


class ProductionConfig(BaseConfig):
    """MySQL via PyMySQL and Redis; every secret must come from the environment."""

    REQUIRED = ("DATABASE_URL", "BROKER_URL", "SECRET_KEY", "ENCRYPTION_KEY")

    def __init__(self):
        super().__init__()
        missing = [f"BRIDGX_{name}" for name in self.REQUIRED if not env(name)]
        if missing:
            raise ConfigError("production configuration needs " + ", ".join(missing))
        if len(self.SECRET_KEY) < 32:
            raise ConfigError("BRIDGX_SECRET_KEY must be at least 32 characters")
        self.CELERY_RESULT_BACKEND = self.CELERY_RESULT_BACKEND or self.CELERY_BROKER_URL
        self.REDIS_URL = self.REDIS_URL or (self.CELERY_BROKER_URL if self.CELERY_BROKER_URL.startswith("redis") else None)


class TestConfig(BaseConfig):
    """SQLite (or BRIDGX_TEST_DATABASE_URL) with fixed test secrets."""

    def __init__(self, home: Path):
        os.environ.setdefault("BRIDGX_HOME", str(home))
        super().__init__()
        self.HOME = Path(home)
        self.TESTING = True
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("BRIDGX_TEST_DATABASE_URL") or f"sqlite:///{home / 'test.sqlite'}"
        redis_url = os.environ.get("BRIDGX_TEST_REDIS_URL")
        self.REDIS_URL = redis_url
        self.CELERY_BROKER_URL = redis_url or f"bxsqla+sqlite:///{home / 'broker.sqlite'}"
        self.SECRET_KEY = "test-secret-key-" + "x" * 32
        self.ENCRYPTION_KEYS = _fernet_key()
        self.EAGER_TASKS = True
        self.VERIFY_ACCOUNTS = False
        self.SCALE_STALE_SECONDS = 2.0
        self.SCALE_HEARTBEAT_SECONDS = 0.5


CONFIGS = {"embedded": EmbeddedConfig, "production": ProductionConfig}


def load_config(name: str | None = None) -> BaseConfig:
    """The config named by `name` or BRIDGX_CONFIG (embedded by default)."""
    name = name or env("CONFIG", "embedded")
    if name not in CONFIGS:
        raise ConfigError(f"BRIDGX_CONFIG must be one of {sorted(CONFIGS)}, not {name!r}")
    return CONFIGS[name]()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet
    return Fernet.generate_key().decode()


def _home_secret(path: Path, make) -> str:
    """A secret kept in a 0600 file under BRIDGX_HOME, created on first use."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()

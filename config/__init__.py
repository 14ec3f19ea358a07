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


class ConfigError(RuntimeError):
    """The configuration cannot start a safe service (the message is one line naming the variable)."""


def env_int(name: str, default: int, minimum: int = 0) -> int:
    return _number(name, default, int, minimum)


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    return _number(name, default, float, minimum)


def _number(name, default, kind, minimum):
    raw = env(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"BRIDGX_{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}")
    if not value >= minimum or value != value:  # NaN too
        raise ConfigError(f"BRIDGX_{name} must be at least {minimum}, not {raw!r}")
    return value


BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False,
         "": False}


def env_bool(name: str, default: bool) -> bool:
    raw = env(name)
    if raw is None:
        return default
    if raw.strip().lower() not in BOOLS:
        raise ConfigError(f"BRIDGX_{name} must be one of 1/0, true/false, yes/no, on/off, not {raw!r}")
    return BOOLS[raw.strip().lower()]


def engine_options(url: str | None, timeout: float, pool_max: int = 15) -> dict:
    """SQLAlchemy engine options: pre-ping, a pool of up to `pool_max` connections (10 kept open,
    the rest opened on demand), a bounded wait for one, and (PyMySQL) connect/read/write timeouts so
    a frozen server raises instead of blocking forever."""
    options = {"pool_pre_ping": True}
    if ":memory:" not in (url or ""):  # (an in-memory SQLite has a single connection)
        options.update(pool_size=min(10, pool_max), max_overflow=max(0, pool_max - 10))
    if url and url.startswith("mysql"):
        options["pool_timeout"] = timeout
        options["connect_args"] = {"connect_timeout": max(1, int(min(timeout, 5))),
                                   "read_timeout": max(1, int(timeout)), "write_timeout": max(1, int(timeout))}
    return options


def env_choice(name: str, default: str, choices: tuple) -> str:
    raw = env(name)
    if raw is None:
        return default
    for choice in choices:
        if raw.strip().lower() == choice.lower():
            return choice
    raise ConfigError(f"BRIDGX_{name} must be one of {', '.join(choices)}, not {raw!r}")


def env_json(name: str, default, kind: type = dict):
    raw = env(name)
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"BRIDGX_{name} is not valid JSON ({exc.msg} at character {exc.pos})")
    if not isinstance(value, kind):
        raise ConfigError(f"BRIDGX_{name} must be a JSON {'object' if kind is dict else kind.__name__}")
    return value


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"BRIDGX_TIMEZONE is not a known time zone: {name!r}")


def check_encryption_keys(keys: str) -> None:
    """Every key of the comma list must be a Fernet key: found at start-up, not at first decrypt."""
    import base64
    import binascii
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise ConfigError("BRIDGX_ENCRYPTION_KEY is empty")
    for i, key in enumerate(parts, 1):
        try:
            ok = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"BRIDGX_ENCRYPTION_KEY key #{i} is not a Fernet key (32 url-safe base64 bytes); "
                              "generate one with: python manage.py gen-key")


class BaseConfig:
    def __init__(self):
        self.HOME = Path(env("HOME", "./instance")).resolve()
        self.TIMEZONE = env("TIMEZONE", "Asia/Shanghai")
        _check_timezone(self.TIMEZONE)
        self.TOKEN_TTL_SECONDS = env_int("TOKEN_TTL_SECONDS", 12 * 3600, minimum=1)
        self.SQLALCHEMY_DATABASE_URI = env("DATABASE_URL")
        # A hung database or broker must not hang a request: every call gives up after these.
        self.DB_TIMEOUT_SECONDS = env_float("DB_TIMEOUT_SECONDS", 10.0)
        self.BROKER_TIMEOUT_SECONDS = env_float("BROKER_TIMEOUT_SECONDS", 5.0)
        self.HEALTH_TIMEOUT_SECONDS = env_float("HEALTH_TIMEOUT_SECONDS", 3.0)
        self.WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 32, minimum=1)  # a scaling task holds one until it ends
        # A running scaling task holds two connections (its engine thread and its heartbeat), and a
        # worker runs WORKER_CONCURRENCY of them; a few more for its main thread and the reconciler.
        self.DB_POOL_MAX = env_int("DB_POOL_MAX", 2 * self.WORKER_CONCURRENCY + 8, minimum=1)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(env("DATABASE_URL"), self.DB_TIMEOUT_SECONDS, self.DB_POOL_MAX)
        self.CELERY_BROKER_URL = env("BROKER_URL")
        self.CELERY_RESULT_BACKEND = env("RESULT_BACKEND")
        self.REDIS_URL = env("REDIS_URL")  # shared rate limiter budget across worker processes
        self.SECRET_KEY = env("SECRET_KEY")
        self.ENCRYPTION_KEYS = env("ENCRYPTION_KEY")  # comma list of Fernet keys, newest first
        self.VERIFY_ACCOUNTS = env_bool("VERIFY_ACCOUNTS", True)
        # Cloud endpoint overrides accounts may use (app/providers/endpoints.py); none by default.
        self.ENDPOINT_ALLOWLIST = env("ENDPOINT_ALLOWLIST", "")
        # Scaling engine
        self.SCALE_BATCH_CONCURRENCY = env_int("SCALE_BATCH_CONCURRENCY", 16, minimum=1)
        self.SCALE_READY_TIMEOUT = env_float("SCALE_READY_TIMEOUT", 600.0)
        self.SCALE_HEARTBEAT_SECONDS = env_float("SCALE_HEARTBEAT_SECONDS", 5.0)
        self.SCALE_STALE_SECONDS = env_float("SCALE_STALE_SECONDS", 30.0)
        self.RECONCILE_SECONDS = env_float("RECONCILE_SECONDS", 60.0)
        # Celery workers and beat write a heartbeat row this often; older than STALE = not live.
        self.PROCESS_HEARTBEAT_SECONDS = env_float("PROCESS_HEARTBEAT_SECONDS", 10.0, minimum=0.1)
        self.PROCESS_STALE_SECONDS = env_float("PROCESS_STALE_SECONDS", 35.0, minimum=0.1)
        # `expand/shrink --wait` gives up when a task is still INIT (no worker took it) after this long.
        self.WAIT_START_TIMEOUT = env_float("WAIT_START_TIMEOUT", 120.0)
        self.LOG_FORMAT = env_choice("LOG_FORMAT", "json", ("json", "text"))
        self.LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
        # Elastic clusters (app/elastic)
        self.ELASTIC_CONTROLLER_SECONDS = env_float("ELASTIC_CONTROLLER_SECONDS", 15.0)
        self.ELASTIC_LEASE_SECONDS = env_float("ELASTIC_LEASE_SECONDS", 60.0)
        self.ELASTIC_RETRY_SECONDS = env_float("ELASTIC_RETRY_SECONDS", 60.0)
        self.CAPACITY_CACHE_SECONDS = env_float("CAPACITY_CACHE_SECONDS", 300.0)
        self.SCHEDULE_GRACE_SECONDS = env_float("SCHEDULE_GRACE_SECONDS", 300.0)
        self.CATALOG_TTL_SECONDS = env_int("CATALOG_TTL_SECONDS", 24 * 3600)
        # cluster/instance/check: seconds per phase (TCP connect, SSH banner + key exchange, login)
        self.SSH_CHECK_TIMEOUT = env_float("SSH_CHECK_TIMEOUT", 5.0)
        self.SSH_CHECK_CONCURRENCY = env_int("SSH_CHECK_CONCURRENCY", 16)
        # Provider call policy: {"AlibabaCloud": {"RunInstances": 5, "*": 20}}
        self.PROVIDER_RATE_OVERRIDES = env_json("PROVIDER_RATES", {})
        self.PROVIDER_MAX_ATTEMPTS = env_int("PROVIDER_MAX_ATTEMPTS", 8, minimum=1)
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
        # Swagger UI assets from the pinned swagger-ui-bundle package (works offline); a URL overrides.
        self.OPENAPI_SWAGGER_UI_URL = env("SWAGGER_UI_URL", "/api/swagger-ui/")
        self.JSON_SORT_KEYS = False
        # Request bodies: the largest legitimate one (cluster/shrink with 50,000 IPs) is about 1 MB.
        self.MAX_CONTENT_LENGTH = 8 * 1024 * 1024
        # Security (README "Security"). Quotas per organisation: 0 = no limit; `manage.py set-quota` overrides.
        self.QUOTA_LIVE_INSTANCES = env_int("QUOTA_LIVE_INSTANCES", 2000)
        self.QUOTA_INSTANCES_PER_TASK = env_int("QUOTA_INSTANCES_PER_TASK", 1000)
        self.QUOTA_TASKS_IN_FLIGHT = env_int("QUOTA_TASKS_IN_FLIGHT", 10)
        # Login throttling: failed attempts per user name and per client address in a fixed window.
        self.LOGIN_WINDOW_SECONDS = env_int("LOGIN_WINDOW_SECONDS", 900)
        self.LOGIN_MAX_FAILURES_PER_USER = env_int("LOGIN_MAX_FAILURES_PER_USER", 10)
        self.LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("LOGIN_MAX_FAILURES_PER_ADDRESS", 100)
        self.LOGIN_HASH_CONCURRENCY = env_int("LOGIN_HASH_CONCURRENCY", 4)  # argon2 runs at once, 19 MiB each
        self.METRICS_TOKEN = env("METRICS_TOKEN")  # when set, /metrics needs `Authorization: Bearer <it>`
        self.METRICS_PUBLIC = env_bool("METRICS_PUBLIC", True)  # without a token: anonymous /metrics allowed?
        self.HSTS_SECONDS = env_int("HSTS_SECONDS", 0)  # > 0 behind HTTPS: Strict-Transport-Security max-age
        self.CHECK_ENCRYPTION_KEY = True  # refuse to start when the key does not decrypt stored secrets
        # `manage.py run` (waitress): worker threads, idle/read timeout, open connections
        self.SERVER_THREADS = env_int("SERVER_THREADS", 8)
        self.SERVER_READ_TIMEOUT = env_int("SERVER_READ_TIMEOUT", 30)
        self.SERVER_CONNECTION_LIMIT = env_int("SERVER_CONNECTION_LIMIT", 200)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}


class EmbeddedConfig(BaseConfig):
    """One machine, no servers: SQLite database and SQLite broker under BRIDGX_HOME."""

    def __init__(self):
        super().__init__()
        private_home(self.HOME)
        self.SQLALCHEMY_DATABASE_URI = self.SQLALCHEMY_DATABASE_URI or f"sqlite:///{private_file(self.HOME / 'bridgx.sqlite')}"
        self.CELERY_BROKER_URL = self.CELERY_BROKER_URL or f"bxsqla+sqlite:///{private_file(self.HOME / 'broker.sqlite')}"
        self.SECRET_KEY = self.SECRET_KEY or _home_secret(self.HOME / "secret_key", lambda: secrets.token_urlsafe(48))
        # A key file created now, beside a database that already holds secrets, is a lost key:
        # create_app refuses to start and removes it again (see app.core.crypto.check_key).
        self.ENCRYPTION_KEY_FILE_CREATED = None
        if not self.ENCRYPTION_KEYS:
            key_file = self.HOME / "encryption_key"
            if not key_file.exists():
                self.ENCRYPTION_KEY_FILE_CREATED = str(key_file)
            self.ENCRYPTION_KEYS = _home_secret(key_file, _fernet_key)
        check_encryption_keys(self.ENCRYPTION_KEYS)


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
        check_encryption_keys(self.ENCRYPTION_KEYS)
        self.CELERY_RESULT_BACKEND = self.CELERY_RESULT_BACKEND or self.CELERY_BROKER_URL
        self.METRICS_PUBLIC = env_bool("METRICS_PUBLIC", False)  # production: a token, or say so explicitly
        self.REDIS_URL = self.REDIS_URL or (self.CELERY_BROKER_URL if self.CELERY_BROKER_URL.startswith("redis") else None)


class TestConfig(BaseConfig):
    """SQLite (or BRIDGX_TEST_DATABASE_URL) with fixed test secrets."""

    def __init__(self, home: Path):
        os.environ.setdefault("BRIDGX_HOME", str(home))
        super().__init__()
        self.HOME = Path(home)
        self.TESTING = True
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("BRIDGX_TEST_DATABASE_URL") or f"sqlite:///{home / 'test.sqlite'}"
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI, self.DB_TIMEOUT_SECONDS,
                                                        self.DB_POOL_MAX)
        redis_url = os.environ.get("BRIDGX_TEST_REDIS_URL")
        self.REDIS_URL = redis_url
        self.CELERY_BROKER_URL = redis_url or f"bxsqla+sqlite:///{home / 'broker.sqlite'}"
        self.SECRET_KEY = "test-secret-key-" + "x" * 32
        self.ENCRYPTION_KEYS = _fernet_key()
        self.EAGER_TASKS = True
        self.VERIFY_ACCOUNTS = False
        # The suite's emulators listen on 127.0.0.1 at ports chosen at run time.
        self.ENDPOINT_ALLOWLIST = "http://127.0.0.1"
        self.SCALE_STALE_SECONDS = 2.0
        self.SCALE_HEARTBEAT_SECONDS = 0.5
        self.CHECK_ENCRYPTION_KEY = False  # each session draws a new key; tests call check_key themselves
        self.LOGIN_MAX_FAILURES_PER_USER = self.LOGIN_MAX_FAILURES_PER_ADDRESS = 10 ** 6  # tests lower them


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


def private_home(path: Path) -> Path:
    """BRIDGX_HOME: readable by its owner only (0700), also when it already existed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 before SQLite opens it (SQLite gives its -wal and -shm
    files the database file's mode); tighten an existing file too."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if each.exists():
            os.chmod(each, 0o600)
    return path


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

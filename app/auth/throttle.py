"""Login throttling: failed attempts per user name and per client address in a fixed window.

Redis (BRIDGX_REDIS_URL) when configured, so every API process shares one count; otherwise (and
while Redis does not answer, with a warning) the database table `login_throttle`. A key over its limit answers 429 with
Retry-After before any password hashing, so a locked account costs no CPU; the right password
does not get through a lock. A success clears the user's count (not the address's).
"""
from __future__ import annotations

import logging
import math
from datetime import timedelta

from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.auth.models import LoginThrottle
from app.core.db import utcnow
from app.core.errors import TooManyRequests
from app.extensions import db

PREFIX = "bridgx:login:"
log = logging.getLogger(__name__)


def _limits() -> tuple[int, dict[str, int]]:
    cfg = current_app.config
    return cfg["LOGIN_WINDOW_SECONDS"], {"user": cfg["LOGIN_MAX_FAILURES_PER_USER"],
                                         "addr": cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"]}


def _keys(username: str, address: str | None) -> dict[str, str]:
    return {"user": f"user:{username.lower()[:128]}", "addr": f"addr:{address or '-'}"}


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("bridgx_login_redis")
    if client is None:
        import redis
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        current_app.extensions["bridgx_login_redis"] = client
    return client


def _redis_down(exc: Exception) -> None:
    log.warning("login throttling falls back to the database: Redis did not answer (%s)", type(exc).__name__)


def check(username: str, address: str | None) -> None:
    """429 (with the seconds to wait) when the user name or the address is locked out."""
    window, limits = _limits()
    for kind, key in _keys(username, address).items():
        failures, retry = _read(key, window)
        if failures >= limits[kind]:
            raise TooManyRequests({"reason": "too many failed logins; try again later"}, retry_after=retry)


def failed(username: str, address: str | None) -> None:
    window, _ = _limits()
    for key in _keys(username, address).values():
        _add(key, window)


def succeeded(username: str) -> None:
    key = _keys(username, None)["user"]
    client = _redis()
    if client is not None:
        try:
            client.delete(PREFIX + key)
            return
        except Exception as exc:  # noqa: BLE001 - any Redis failure: use the database
            _redis_down(exc)
    db.session.query(LoginThrottle).filter(LoginThrottle.key == key).delete()
    db.session.commit()


def _read(key: str, window: int) -> tuple[int, int]:
    client = _redis()
    if client is not None:
        try:
            count, ttl = client.pipeline().get(PREFIX + key).ttl(PREFIX + key).execute()
            return int(count or 0), max(int(ttl), 1)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: use the database
            _redis_down(exc)
    row = db.session.get(LoginThrottle, key)
    db.session.rollback()  # a read; do not hold the SQLite snapshot
    if row is None:
        return 0, 0
    left = (row.window_start + timedelta(seconds=window) - utcnow()).total_seconds()
    return (row.failures, math.ceil(left)) if left > 0 else (0, 0)


def _add(key: str, window: int) -> None:
    client = _redis()
    if client is not None:
        try:  # the window starts at the first failure
            client.pipeline().set(PREFIX + key, 0, ex=window, nx=True).incr(PREFIX + key).execute()
            return
        except Exception as exc:  # noqa: BLE001 - any Redis failure: use the database
            _redis_down(exc)
    now = utcnow()
    for _ in range(3):  # two first failures at once: one inserts, the other retries the update
        row = db.session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            db.session.add(LoginThrottle(key=key, window_start=now, failures=1))
        elif row.window_start + timedelta(seconds=window) <= now:
            row.window_start, row.failures = now, 1
        else:
            row.failures += 1
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()

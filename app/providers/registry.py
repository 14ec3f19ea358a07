"""Provider name -> driver, and the call policy every driver call runs under.

`get_provider(name, credentials, region)` builds a driver whose `call(api, fn)` does:
rate-limit acquire (per provider, account row, region, API) -> fn -> retry on retryable errors,
with each attempt reported to the call listeners (for metrics) - so drivers stay free of policy
and the policy is the same for every cloud.

`configure(ProviderSettings(...))` is called once by the app factory and by the worker;
without it the defaults apply (per-process buckets, 5 attempts).
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from app.providers.base import CloudError, Credentials, InvalidRequest, Provider, Throttled
from app.providers.endpoints import LOCATION, allowed
from app.providers.ratelimit import URGENT, LocalRateLimiter, RedisRateLimiter, resolve_rate
from app.providers.retry import RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

# Drivers are named by import path so that a cloud's SDK is imported only when that cloud is
# used. A listed module that does not exist yet (a driver still being written) is reported as
# an unknown provider.
_DRIVERS: dict = {
    "AlibabaCloud": "app.providers.alibaba:AlibabaProvider",
    "TencentCloud": "app.providers.tencent:TencentProvider",
    "AWSCloud": "app.providers.aws:AWSProvider",
    "HuaweiCloud": "app.providers.huawei:HuaweiProvider",
    "BaiduCloud": "app.providers.baidu:BaiduProvider",
}


@dataclass
class ProviderSettings:
    redis_url: Optional[str] = None  # share rate budgets across processes through this Redis
    # {"AlibabaCloud": {"RunInstances": 5, "Describe*": 10, "*": 20}}: calls/s, merged over
    # each driver's own limits.rates (so "*" replaces only the driver's fallback).
    rate_overrides: dict = field(default_factory=dict)
    burst: float = 1.0  # bucket size in calls; 1 spaces calls evenly at the rate
    max_attempts: int = 5
    backoff_base: float = 0.2  # seconds
    backoff_cap: float = 10.0  # seconds
    # Endpoint overrides an account may use (endpoints.parse_allowlist); None: not checked here
    # (a library user, the driver tests), () : none at all. The app passes BRIDGX_ENDPOINT_ALLOWLIST.
    endpoint_allowlist: Optional[tuple] = None


_lock = threading.Lock()
_settings = ProviderSettings()
_limiter: Union[LocalRateLimiter, RedisRateLimiter, None] = None
_policy = RetryPolicy()
_listeners: list = []


def configure(settings: ProviderSettings) -> None:
    """Install the rate-limit and retry settings used by every provider built afterwards too."""
    global _settings, _limiter, _policy
    limiter = (RedisRateLimiter(settings.redis_url, burst=settings.burst) if settings.redis_url
               else LocalRateLimiter(burst=settings.burst))
    with _lock:
        _settings = settings
        _limiter = limiter
        _policy = RetryPolicy(settings.max_attempts, settings.backoff_base, settings.backoff_cap)


def settings() -> ProviderSettings:
    return _settings


def _get_limiter():
    global _limiter
    if _limiter is None:
        with _lock:
            if _limiter is None:
                _limiter = LocalRateLimiter(burst=_settings.burst)
    return _limiter


def register(name: str, driver: Union[str, type]) -> None:
    """Add or replace a driver: a Provider subclass or "module:Class" (e.g. a fake for tests)."""
    _DRIVERS[name] = driver


def provider_names() -> list:
    return list(_DRIVERS)


def driver_class(name: str) -> type:
    """The driver class for a provider name; ValueError for a name without a driver."""
    driver = _DRIVERS.get(name)
    if driver is None:
        raise ValueError(f"unknown provider {name!r}")
    if isinstance(driver, type):
        return driver
    module_name, _, class_name = driver.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the driver exists but something it needs is missing
            raise
        raise ValueError(f"no driver for provider {name!r} yet") from exc
    return getattr(module, class_name)


def get_provider(provider_name: str, credentials: Credentials, region_id: Optional[str] = None) -> Provider:
    """A driver for one account in one region (the driver's default region when None)."""
    cls = driver_class(provider_name)
    allowlist = _settings.endpoint_allowlist
    if credentials.endpoint and allowlist is not None and not allowed(credentials.endpoint, allowlist):
        # An account stored before the operator narrowed the list: no call leaves for it.
        raise InvalidRequest("the account's endpoint is not on the operator's allow-list "
                             "(BRIDGX_ENDPOINT_ALLOWLIST)", "EndpointNotAllowed")
    if region_id and not LOCATION.fullmatch(region_id):
        # Drivers build host names from the region: a stored `x@host:port/` must not reach one.
        raise InvalidRequest(f"not a region id: {region_id!r}", "InvalidRegionId")
    return cls(credentials, region_id or cls.default_region, caller=_call)


def bucket_key(provider: Provider, api: str) -> tuple:
    """The rate-limit bucket of one call: (provider, account, region, API).

    The account is the account row (credentials.budget), not the access-key string: another
    organisation registering the same key id must not spend (or exhaust) this one's budget.
    """
    owner = provider.credentials.budget or provider.credentials.access_key
    return (provider.name, owner, provider.region_id, api)


def rate_for(provider: Provider, api: str) -> Optional[float]:
    """Calls/s allowed for `api` on this provider (None: unlimited)."""
    rates = dict(provider.limits.rates)
    rates.update(_settings.rate_overrides.get(provider.name, {}))
    return resolve_rate(api, rates)


# ---------------------------------------------------------------- listeners
def add_call_listener(fn: Callable[[Provider, str, str, float], None]) -> None:
    """Call fn(provider, api, outcome, seconds) after every SDK attempt.

    outcome is "ok", "throttled", or the CloudError class name ("CloudUnavailable", ...);
    seconds is the attempt's duration without the rate-limit wait. Use provider.name,
    provider.region_id for labels. A listener that raises is logged and otherwise ignored.
    """
    with _lock:
        _listeners.append(fn)


def remove_call_listener(fn: Callable) -> None:
    with _lock:
        if fn in _listeners:
            _listeners.remove(fn)


def _notify(provider: Provider, api: str, outcome: str, seconds: float) -> None:
    for fn in list(_listeners):
        try:
            fn(provider, api, outcome, seconds)
        except Exception:  # noqa: BLE001 - metrics must never break a cloud call
            log.exception("call listener %r failed", fn)


def _outcome(exc: CloudError) -> str:
    return "throttled" if isinstance(exc, Throttled) else type(exc).__name__


# ---------------------------------------------------------------- the call policy
def _call(provider: Provider, api: str, fn: Callable):
    """Rate limit -> fn -> retry; installed as every registry-built provider's caller."""
    key = bucket_key(provider, api)
    rate = rate_for(provider, api)
    limiter = _get_limiter()
    urgent = URGENT.get()

    def attempt():
        # Every attempt, retries included, costs a token: the cloud counts them all.
        limiter.acquire(key, rate, urgent)
        started = time.monotonic()
        try:
            result = fn()
        except CloudError as exc:
            _notify(provider, api, _outcome(exc), time.monotonic() - started)
            raise
        _notify(provider, api, "ok", time.monotonic() - started)
        return result

    def on_retry(exc, failures, delay):
        # One short line: the class and code say what happened; the cloud's text stays out of the log.
        log.info("cloud retry %s %s %s: %s %s, attempt %d/%d, next in %.2fs", provider.name, provider.region_id, api,
                 type(exc).__name__, exc.code or "-", failures, _policy.max_attempts, delay,
                 extra={"provider": provider.name, "api": api, "error": type(exc).__name__,
                        "error_code": exc.code or None, "attempt": failures})

    return call_with_retry(attempt, _policy, on_retry=on_retry)

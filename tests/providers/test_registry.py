"""The registry: name -> driver, lazily, and the call policy wired into every driver it builds."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.providers import registry
from app.providers.base import (
    CloudUnavailable, Credentials, Limits, OutOfCapacity, Provider, Throttled,
)
from app.providers.registry import ProviderSettings

ROOT = Path(__file__).resolve().parents[2]


class FakeProvider(Provider):
    """Only what the call policy touches; registered like a real driver."""

    name = "FakeCloud"
    default_region = "fake-1"
    limits = Limits(max_create=10, max_describe_ids=10, max_delete_ids=10, page_size=10,
                    rates={"RunInstances": 2.0, "Describe*": 20.0, "*": 5.0})

    def translate(self, exc):
        return CloudUnavailable(str(exc))


FakeProvider.__abstractmethods__ = frozenset()  # the instance methods are never called here


@pytest.fixture
def fake(configure_providers):
    registry.register("FakeCloud", FakeProvider)
    yield registry.get_provider("FakeCloud", Credentials("AK", "SK"))
    registry._DRIVERS.pop("FakeCloud", None)


class RecordingLimiter:
    def __init__(self):
        self.keys, self.urgent = [], []

    def acquire(self, key, rate, urgent=False):
        self.keys.append((key, rate))
        self.urgent.append(urgent)
        return 0.0


def test_known_names_map_to_driver_classes():
    assert registry.driver_class("AlibabaCloud").__name__ == "AlibabaProvider"
    assert registry.driver_class("TencentCloud").__name__ == "TencentProvider"
    assert registry.driver_class("AWSCloud").__name__ == "AWSProvider"
    for name in ("HuaweiCloud", "BaiduCloud"):  # slots ready for their drivers
        assert name in registry.provider_names()


@pytest.mark.parametrize("name", ["NoSuchCloud", "", "alibabacloud"])
def test_unknown_provider_is_a_value_error(name):
    with pytest.raises(ValueError):
        registry.get_provider(name, Credentials("AK", "SK"), "r")


def test_driver_not_written_yet_is_a_value_error(monkeypatch):
    monkeypatch.setitem(registry._DRIVERS, "HuaweiCloud", "app.providers.no_such_driver:HuaweiProvider")
    with pytest.raises(ValueError, match="HuaweiCloud"):
        registry.get_provider("HuaweiCloud", Credentials("AK", "SK"), "r")


def test_region_defaults_to_the_drivers_default_region():
    assert registry.get_provider("AlibabaCloud", Credentials("AK", "SK")).region_id == "cn-hangzhou"
    assert registry.get_provider("TencentCloud", Credentials("AK", "SK")).region_id == "ap-guangzhou"
    assert registry.get_provider("AWSCloud", Credentials("AK", "SK"), "eu-west-1").region_id == "eu-west-1"


def test_sdks_are_imported_only_when_a_call_is_made():
    # app/__init__.py (the app factory) imports Flask; stand in an empty `app` package so that
    # only what the provider layer itself imports is seen.
    script = textwrap.dedent("""
        import sys, types
        pkg = types.ModuleType("app")
        pkg.__path__ = ["app"]
        sys.modules["app"] = pkg
        from app.providers import registry
        from app.providers.base import Credentials
        for name in ("AlibabaCloud", "TencentCloud", "AWSCloud"):
            registry.get_provider(name, Credentials("AK", "SK"))
        heavy = [m for m in sys.modules if m.split(".")[0] in
                 ("alibabacloud_ecs20140526", "alibabacloud_vpc20160428", "alibabacloud_tea_openapi",
                  "tencentcloud", "boto3", "botocore", "flask", "cloudsim", "redis")]
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rates_merge_overrides_over_driver_defaults(fake, configure_providers):
    configure_providers(rate_overrides={"FakeCloud": {"RunInstances": 1, "*": 50}})
    assert registry.rate_for(fake, "RunInstances") == 1.0
    assert registry.rate_for(fake, "DescribeVpcs") == 20.0  # the driver's own prefix entry stays
    assert registry.rate_for(fake, "CreateVpc") == 50.0


def test_call_runs_limiter_then_fn_then_retries_and_reports_each_attempt(fake, configure_providers, monkeypatch):
    configure_providers(max_attempts=4, backoff_base=0.001, backoff_cap=0.001)
    limiter = RecordingLimiter()
    monkeypatch.setattr(registry, "_get_limiter", lambda: limiter)
    seen = []
    registry.add_call_listener(lambda p, api, outcome, secs: seen.append((p.name, api, outcome)))
    results = iter([Throttled("slow"), CloudUnavailable("down"), "ids"])

    def fn():
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    assert fake.call("RunInstances", fn) == "ids"
    assert seen == [("FakeCloud", "RunInstances", "throttled"), ("FakeCloud", "RunInstances", "CloudUnavailable"),
                    ("FakeCloud", "RunInstances", "ok")]
    # every attempt, retries included, took a token from the (provider, key, region, API) bucket
    assert limiter.keys == [(("FakeCloud", "AK", "fake-1", "RunInstances"), 2.0)] * 3


def test_a_call_made_while_urgent_is_set_is_urgent_on_every_attempt(fake, configure_providers, monkeypatch):
    from app.providers.ratelimit import URGENT
    configure_providers(max_attempts=3, backoff_base=0.001, backoff_cap=0.001)
    limiter = RecordingLimiter()
    monkeypatch.setattr(registry, "_get_limiter", lambda: limiter)
    results = iter([Throttled("slow"), "ids"])

    def fn():
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    token = URGENT.set(True)
    try:
        assert fake.call("RunInstances", fn) == "ids"
    finally:
        URGENT.reset(token)
    fake.call("DescribeInstances", lambda: [])
    assert limiter.urgent == [True, True, False]


def test_non_retryable_errors_are_reported_once_and_raised(fake, configure_providers):
    configure_providers(max_attempts=5)
    seen = []
    registry.add_call_listener(lambda p, api, outcome, secs: seen.append(outcome))

    def fn():
        raise OutOfCapacity("no stock", "OperationDenied.NoStock")

    with pytest.raises(OutOfCapacity):
        fake.call("RunInstances", fn)
    assert seen == ["OutOfCapacity"]


def test_a_failing_listener_never_breaks_the_call(fake, configure_providers):
    def broken(*args):
        raise RuntimeError("metrics down")

    registry.add_call_listener(broken)
    assert fake.call("DescribeVpcs", lambda: 42) == 42


def test_configure_picks_the_redis_limiter_when_a_url_is_given(configure_providers):
    pytest.importorskip("redis")
    configure_providers(redis_url="redis://127.0.0.1:6379/15")
    assert type(registry._get_limiter()).__name__ == "RedisRateLimiter"
    configure_providers()
    assert type(registry._get_limiter()).__name__ == "LocalRateLimiter"


def test_settings_round_trip(configure_providers):
    configure_providers(max_attempts=7, backoff_base=0.5, backoff_cap=3.0)
    assert registry.settings() == ProviderSettings(max_attempts=7, backoff_base=0.5, backoff_cap=3.0)

"""Token buckets: arithmetic on a fake clock, then real threads (and Redis) held to a rate."""
from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from _timing import assert_held_to_rate
from app.providers.ratelimit import LocalRateLimiter, RedisRateLimiter, TokenBucket, resolve_rate

# CI points this at its Redis; keys are unique per test and removed afterwards.
REDIS_URL = os.environ.get("BRIDGX_TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def hammer(acquire, threads, per_thread):
    """Call acquire() from many threads at once; the time.monotonic() of every granted call."""
    stamps, lock, start = [], threading.Lock(), threading.Barrier(threads)

    def work():
        start.wait()
        for _ in range(per_thread):
            acquire()
            with lock:
                stamps.append(time.monotonic())

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return stamps


def test_resolve_rate_exact_then_prefix_then_fallback():
    rates = {"RunInstances": 2, "Describe*": 20, "DescribeInstances*": 30, "*": 5, "Slow": 0}
    assert resolve_rate("RunInstances", rates) == 2.0
    assert resolve_rate("DescribeVpcs", rates) == 20.0
    assert resolve_rate("DescribeInstances", rates) == 30.0  # the longest prefix wins
    assert resolve_rate("CreateVpc", rates) == 5.0
    assert resolve_rate("Slow", rates) is None  # <= 0: unlimited
    assert resolve_rate("CreateVpc", {}) is None


def test_bucket_spends_its_burst_then_says_when_the_next_token_is_due():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    assert [bucket.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_acquire() == pytest.approx(0.1)
    assert bucket.try_acquire() == pytest.approx(0.1)  # asking again takes nothing
    clock.now += 0.1
    assert bucket.try_acquire() == 0.0
    clock.now += 10  # idle: refills up to the burst, not beyond
    assert [bucket.try_acquire() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_callers_late_after_a_stall_do_not_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock, sleep=clock.sleep)
    assert bucket.try_acquire() == 0.0
    waits = [bucket.try_acquire() for _ in range(3)]  # three waiters told to come back in 0.1s
    assert waits == pytest.approx([0.1] * 3)
    clock.now += 2.0  # ...but they all wake 2s later, together
    assert [bucket.try_acquire() for _ in range(3)] == pytest.approx([0.0, 0.1, 0.1])


def test_acquire_sleeps_until_the_token_is_due():
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(5):
        bucket.acquire()
    assert clock.now - start == pytest.approx(1.0)  # 1 free + 4 at 0.25s


def test_local_limiter_holds_many_threads_to_the_rate():
    limiter = LocalRateLimiter(burst=1)
    key = ("AWSCloud", "AK", "us-east-1", "RunInstances")
    stamps = hammer(lambda: limiter.acquire(key, 25.0), threads=8, per_thread=5)
    assert len(stamps) == 40
    assert max(stamps) - min(stamps) >= 39 / 25.0 * 0.95
    assert_held_to_rate(stamps, 25.0, burst=1)


def test_local_limiter_keys_are_independent_and_none_is_unlimited():
    limiter = LocalRateLimiter(burst=1)
    started = time.monotonic()
    for i in range(20):
        limiter.acquire(("AWSCloud", f"AK{i}", "us-east-1", "RunInstances"), 1.0)  # 20 fresh buckets
        limiter.acquire(("AWSCloud", "AK", "us-east-1", "X"), None)
    assert time.monotonic() - started < 10  # one shared 1/s bucket would need 19 s


@pytest.fixture
def redis_limiters():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at " + REDIS_URL)
    prefix = f"bridgx-test:{uuid.uuid4().hex}:"
    # Two limiters with their own connections stand for two worker processes.
    made = [RedisRateLimiter(REDIS_URL, burst=1, prefix=prefix) for _ in range(2)]
    yield made
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_redis_limiter_shares_one_budget_between_limiters(redis_limiters):
    first, second = redis_limiters
    key = ("TencentCloud", "AK", "ap-guangzhou", "RunInstances")
    turn = iter(range(10**6))
    lock = threading.Lock()

    def acquire():
        with lock:
            limiter = first if next(turn) % 2 else second
        limiter.acquire(key, 25.0)

    stamps = hammer(acquire, threads=8, per_thread=5)
    assert len(stamps) == 40
    assert max(stamps) - min(stamps) >= 39 / 25.0 * 0.95
    assert_held_to_rate(stamps, 25.0, burst=1)


def test_redis_bucket_state_expires_once_full_again(redis_limiters):
    limiter = redis_limiters[0]
    key = ("AWSCloud", "AK", "us-east-1", "DescribeInstances")
    limiter.acquire(key, 50.0)
    ttl_ms = limiter.client.pttl(limiter.key_name(key))
    assert 0 < ttl_ms <= 1100


def test_redis_limiter_falls_back_to_local_buckets_when_redis_is_down():
    pytest.importorskip("redis")
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", burst=1)  # nothing listens on port 1
    key = ("AWSCloud", "AK", "us-east-1", "RunInstances")
    started = time.monotonic()
    for _ in range(3):
        limiter.acquire(key, 20.0)
    assert time.monotonic() - started >= 0.09  # still limited (2 waits of 50 ms)

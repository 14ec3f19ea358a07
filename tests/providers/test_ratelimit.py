"""Token buckets: arithmetic on a fake clock, then real threads (and Redis) held to a rate."""
from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from _timing import assert_held_to_rate
from app.providers.ratelimit import (LATE_TOKENS, URGENT_GRACE, LocalRateLimiter, RedisRateLimiter, TokenBucket,
                                     resolve_rate)

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


def served_around_urgent_calls(make_limiters, rate=3.0, lows=6, urgents=2):
    """`lows` normal callers wait on an empty bucket, then `urgents` urgent callers arrive. Returns
    the order all were served in and how many had been served when the urgent calls arrived.

    make_limiters(sleep) -> (the normal callers' limiter, the urgent callers': the same one, or
    another process's when shared through Redis), whose waits go through `sleep`.
    """
    cond, served = threading.Condition(), []

    def sleep(seconds):
        with cond:  # a caller that sleeps may have let another in: look again
            cond.notify_all()
        time.sleep(min(seconds, 0.05))

    limiter, urgent_limiter = make_limiters(sleep)
    key = ("AlibabaCloud", "AK", "cn-hangzhou", "RunInstances")
    limiter.acquire(key, rate)  # the bucket is empty now

    def call(urgent):
        (urgent_limiter if urgent else limiter).acquire(key, rate, urgent=urgent)
        with cond:
            served.append(threading.current_thread().name)
            cond.notify_all()

    threads = [threading.Thread(target=call, args=(False,), name=f"low{i}") for i in range(lows)]
    for t in threads:
        t.start()
    with cond:  # every normal caller is waiting for a token (or already served, on a slow host)
        assert cond.wait_for(lambda: limiter.waiting(key) + len(served) == lows, timeout=30)
        arrived = len(served)
    threads += [threading.Thread(target=call, args=(True,), name=f"urgent{i}") for i in range(urgents)]
    for t in threads[lows:]:
        t.start()
    for t in threads:
        t.join()
    return served, arrived


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
    clock.now += 10  # idle: refills up to the burst (plus the lateness it carries), not beyond
    assert [bucket.try_acquire() for _ in range(4)] == pytest.approx([0, 0, 0, (1 - LATE_TOKENS) / 10])


def test_callers_late_after_a_stall_do_not_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock, sleep=clock.sleep)
    assert bucket.try_acquire() == 0.0
    waits = [bucket.try_acquire() for _ in range(3)]  # three waiters told to come back in 0.1s
    assert waits == pytest.approx([0.1] * 3)
    clock.now += 2.0  # ...but they all wake 2s later, together: one goes, not three
    late = (1 - LATE_TOKENS) / 10
    assert [bucket.try_acquire() for _ in range(3)] == pytest.approx([0.0, late, late])


def test_a_call_taking_its_token_late_does_not_push_the_next_ones_back():
    """On a busy host the waiting thread wakes a few ms after its token was due: the next token is
    still due on the rate's schedule (at 10/s, 10 ms late each time would cost 9 % of the rate)."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock, sleep=clock.sleep)
    assert bucket.try_acquire() == 0.0
    clock.now += 0.1 + 0.01  # due at +0.1, asked at +0.11
    assert bucket.try_acquire() == 0.0
    clock.now += 0.09  # +0.2: the next token is due now, not at +0.21
    assert bucket.try_acquire() == 0.0


def test_redis_a_call_taking_its_token_late_does_not_push_the_next_ones_back(make_redis):
    limiter = make_redis()
    key = ("AWSCloud", "AK", "us-east-1", "RunInstances")
    assert limiter.try_acquire(key, 10.0) == 0.0
    time.sleep(0.12)  # due after 0.1 s, asked at least 20 ms late
    assert limiter.try_acquire(key, 10.0) == 0.0
    assert limiter.try_acquire(key, 10.0) < 0.095  # the next is due 0.1 s after the last was due


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


def test_bucket_keeps_the_tokens_waiting_urgent_calls_need():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    bucket.urgent = 2  # two urgent callers are waiting
    assert bucket.try_acquire() == 0.0  # 3 tokens: one is spare
    assert bucket.try_acquire() == pytest.approx(0.1)  # 2 left, both spoken for
    assert bucket.try_acquire(urgent=True) == 0.0
    assert bucket.try_acquire(urgent=True) == 0.0
    bucket.urgent = 0
    assert bucket.try_acquire() == pytest.approx(0.1)


def test_local_limiter_serves_urgent_calls_before_the_queued_ones():
    """A task's first batch must not wait behind the later batches other tasks already queued."""
    def limiters(sleep):
        limiter = LocalRateLimiter(burst=1, sleep=sleep)
        return limiter, limiter
    served, arrived = served_around_urgent_calls(limiters)
    assert sorted(served[arrived:arrived + 2]) == ["urgent0", "urgent1"], served


def test_local_limiter_holds_mixed_urgent_and_normal_calls_to_the_rate():
    limiter = LocalRateLimiter(burst=1)
    key = ("AWSCloud", "AK", "us-east-1", "RunInstances")
    turn = iter(range(10**6))
    stamps = hammer(lambda: limiter.acquire(key, 25.0, urgent=next(turn) % 3 == 0), threads=8, per_thread=5)
    assert len(stamps) == 40
    assert_held_to_rate(stamps, 25.0, burst=1)


def test_local_limiter_keys_are_independent_and_none_is_unlimited():
    limiter = LocalRateLimiter(burst=1)
    started = time.monotonic()
    for i in range(20):
        limiter.acquire(("AWSCloud", f"AK{i}", "us-east-1", "RunInstances"), 1.0)  # 20 fresh buckets
        limiter.acquire(("AWSCloud", "AK", "us-east-1", "X"), None)
    assert time.monotonic() - started < 10  # one shared 1/s bucket would need 19 s


@pytest.fixture
def make_redis():
    """make_redis(sleep=time.sleep) -> a RedisRateLimiter with its own connection (a worker
    process of its own), sharing this test's key prefix with the others made."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at " + REDIS_URL)
    prefix = f"bridgx-test:{uuid.uuid4().hex}:"
    yield lambda sleep=time.sleep: RedisRateLimiter(REDIS_URL, burst=1, prefix=prefix, sleep=sleep)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


@pytest.fixture
def redis_limiters(make_redis):
    return [make_redis() for _ in range(2)]


def hammer_two(limiters, urgent=lambda n: False) -> list:
    """40 calls at 25/s from 8 threads, alternating between two limiters; call n urgent if urgent(n)."""
    first, second = limiters
    key = ("TencentCloud", "AK", "ap-guangzhou", "RunInstances")
    turn = iter(range(10**6))
    lock = threading.Lock()

    def acquire():
        with lock:
            n = next(turn)
        (first if n % 2 else second).acquire(key, 25.0, urgent=urgent(n))
    return hammer(acquire, threads=8, per_thread=5)


def test_redis_limiter_shares_one_budget_between_limiters(redis_limiters):
    stamps = hammer_two(redis_limiters)
    assert len(stamps) == 40
    assert max(stamps) - min(stamps) >= 39 / 25.0 * 0.95
    assert_held_to_rate(stamps, 25.0, burst=1)


def test_redis_limiter_serves_urgent_calls_before_the_queued_ones_of_other_processes(make_redis):
    served, arrived = served_around_urgent_calls(lambda sleep: (make_redis(sleep), make_redis(sleep)))
    assert sorted(served[arrived:arrived + 2]) == ["urgent0", "urgent1"], served


def test_redis_limiter_holds_mixed_urgent_and_normal_calls_to_the_rate(redis_limiters):
    stamps = hammer_two(redis_limiters, urgent=lambda n: n % 3 == 0)
    assert len(stamps) == 40
    assert_held_to_rate(stamps, 25.0, burst=1)


def test_redis_an_urgent_waiter_that_died_holds_others_back_only_briefly(make_redis):
    """A worker process killed while its urgent call waited leaves its mark in Redis: it lapses
    URGENT_GRACE seconds after the call was due back."""
    limiter = make_redis()
    key = ("AWSCloud", "AK", "us-east-1", "RunInstances")
    limiter.acquire(key, 10.0)
    assert limiter.try_acquire(key, 10.0, urgent=True, waiter="dead") > 0  # queued, and never asks again
    started = time.monotonic()
    limiter.acquire(key, 10.0)
    waited = time.monotonic() - started
    assert URGENT_GRACE * 0.9 < waited < URGENT_GRACE + 2.0


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


def asks_per_call(limiter, count_asks, calls=40, rate=50.0) -> float:
    """`calls` threads each make one call on one key at once; the bucket asks per call granted.
    count_asks() -> how many times the bucket was asked so far."""
    key = ("AlibabaCloud", "AK", "cn-hangzhou", "RunInstances")
    limiter.acquire(key, rate)  # the bucket is empty now
    before = count_asks()
    stamps = hammer(lambda: limiter.acquire(key, rate), threads=calls, per_thread=1)
    assert len(stamps) == calls
    assert_held_to_rate(stamps, rate, burst=1)
    return (count_asks() - before) / calls


def test_local_waiting_calls_ask_the_bucket_about_once_per_token(monkeypatch):
    """Calls queued on a key wait their turn in the process: only the first asks the bucket.
    (They used to wake and ask every 1/rate seconds each: with 200 creates queued at 10/s, 2,000
    asks a second for 10 tokens.)"""
    asks = [0]
    real = TokenBucket.try_acquire

    def counted(self, urgent=False):
        asks[0] += 1
        return real(self, urgent)
    monkeypatch.setattr(TokenBucket, "try_acquire", counted)
    assert asks_per_call(LocalRateLimiter(burst=1), lambda: asks[0]) <= 3


def test_redis_waiting_calls_ask_redis_about_once_per_token(make_redis):
    """The same through Redis: one process's queued calls cost Redis about one script call per
    token, not one per waiting call per token (452 a second for ~30 tokens in the fleet benchmark)."""
    limiter = make_redis()
    asks = [0]
    real = limiter.try_acquire

    def counted(*args, **kwargs):
        asks[0] += 1
        return real(*args, **kwargs)
    limiter.try_acquire = counted
    assert asks_per_call(limiter, lambda: asks[0]) <= 3


def test_calls_queued_behind_a_hung_redis_fall_back_together():
    """Redis hangs (each script call times out): the calls queued on the key do not each wait out
    the timeout in turn; they fall back to this process's buckets once the first has failed."""
    redis = pytest.importorskip("redis")

    class HungRedis:
        def register_script(self, _):
            def script(**_):
                time.sleep(0.5)  # the client's socket timeout, shortened
                raise redis.TimeoutError("Timeout reading from socket")
            return script

    limiter = RedisRateLimiter(client=HungRedis())
    key = ("AWSCloud", "AK", "us-east-1", "RunInstances")
    started = time.monotonic()
    stamps = hammer(lambda: limiter.acquire(key, 1000.0), threads=10, per_thread=1)
    assert len(stamps) == 10
    assert max(stamps) - started < 2.0  # one timeout, not ten in a row (5 s)

"""The retry policy: which errors are retried, how long it waits, and when it gives up."""
from __future__ import annotations

import random

import pytest

from app.providers.base import (
    AuthFailed, CloudError, CloudUnavailable, InvalidRequest, NotFound, OutOfCapacity, QuotaExceeded, Throttled,
)
from app.providers.retry import RetryPolicy, call_with_retry


class Flaky:
    """Raises the given errors in turn, then returns "done"."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_backoff_is_full_jitter_within_the_capped_exponential():
    policy = RetryPolicy(max_attempts=10, base=0.1, cap=1.0)
    random.seed(7)
    for failures in range(1, 9):
        ceiling = min(1.0, 0.1 * 2 ** (failures - 1))
        draws = [policy.backoff(failures) for _ in range(300)]
        assert all(0.0 <= d <= ceiling for d in draws)
        # full jitter: the draws spread over the whole range, not just near the ceiling
        assert min(draws) < 0.2 * ceiling and max(draws) > 0.8 * ceiling


def test_retryable_errors_are_retried_until_success():
    fn = Flaky(Throttled("slow down"), CloudUnavailable("502"), Throttled("again"))
    sleeps = []
    assert call_with_retry(fn, RetryPolicy(max_attempts=5, base=0.01, cap=0.05), sleep=sleeps.append) == "done"
    assert fn.calls == 4
    assert len(sleeps) == 3 and all(0 <= s <= 0.05 for s in sleeps)


def test_retry_after_is_honoured_even_above_the_cap():
    fn = Flaky(Throttled("slow down", retry_after=2.5))
    sleeps = []
    call_with_retry(fn, RetryPolicy(max_attempts=3, base=0.1, cap=0.5), sleep=sleeps.append)
    assert len(sleeps) == 1 and 2.5 <= sleeps[0] <= 2.6


def test_gives_up_after_max_attempts_with_the_last_error():
    fn = Flaky(*[CloudUnavailable(f"down {i}") for i in range(10)])
    sleeps = []
    with pytest.raises(CloudUnavailable, match="down 2"):
        call_with_retry(fn, RetryPolicy(max_attempts=3, base=0.01, cap=0.01), sleep=sleeps.append)
    assert fn.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize("error", [OutOfCapacity("no stock"), QuotaExceeded("quota"), AuthFailed("bad key"),
                                   InvalidRequest("bad"), NotFound("gone"), CloudError("other")])
def test_non_retryable_errors_are_not_retried(error):
    fn = Flaky(error)
    sleeps = []
    with pytest.raises(type(error)):
        call_with_retry(fn, RetryPolicy(max_attempts=5), sleep=sleeps.append)
    assert fn.calls == 1 and sleeps == []


def test_non_cloud_errors_pass_straight_through():
    def boom():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retry(boom, RetryPolicy(max_attempts=5), sleep=lambda s: None)


def test_on_retry_sees_each_failure_and_its_delay():
    seen = []
    fn = Flaky(Throttled("t", retry_after=0.3), CloudUnavailable("u"))
    call_with_retry(fn, RetryPolicy(max_attempts=5, base=0.01, cap=0.01), sleep=lambda s: None,
                    on_retry=lambda exc, n, delay: seen.append((type(exc).__name__, n, delay)))
    assert [(name, n) for name, n, _ in seen] == [("Throttled", 1), ("CloudUnavailable", 2)]
    assert seen[0][2] >= 0.3

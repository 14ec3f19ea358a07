"""Retry of transient cloud errors: capped exponential backoff with full jitter.

Only errors whose class says `retryable` (Throttled, CloudUnavailable) are retried. Capacity,
quota, auth, invalid-request and not-found errors are returned to the caller at once: retrying
them blindly would only burn the rate budget and delay the decision the scaling engine has to
take (try another zone, fail the task, ...).

Retrying a create is safe because every create carries a client token: if a timed-out call
did reach the cloud, the retry returns the same ids instead of creating more machines.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

from app.providers.base import CloudError, Throttled

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # total attempts, the first one included
    base: float = 0.2  # seconds; the first backoff is drawn from [0, base]
    cap: float = 10.0  # seconds; no backoff is drawn from a wider range than [0, cap]

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt (1-based): full jitter."""
        ceiling = min(self.cap, self.base * (2 ** (failures - 1)))
        return random.uniform(0.0, ceiling)

    def delay(self, exc: CloudError, failures: int) -> float:
        """Seconds to wait before the next attempt after `exc`.

        A cloud's own retry-after is honoured even above `cap` (calling earlier would only be
        throttled again); a little jitter on top keeps waiting threads from returning in step.
        """
        retry_after = getattr(exc, "retry_after", None) if isinstance(exc, Throttled) else None
        if retry_after is not None and retry_after > 0:
            return retry_after + random.uniform(0.0, min(self.base, retry_after))
        return self.backoff(failures)


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy = RetryPolicy(),
                    sleep: Callable[[float], None] = time.sleep,
                    on_retry: Optional[Callable[[CloudError, int, float], None]] = None) -> T:
    """Run `fn`, retrying retryable CloudErrors up to `policy.max_attempts` attempts in all.

    `on_retry(exc, failures, delay)` is called before each wait. The last error is re-raised.
    """
    failures = 0
    while True:
        try:
            return fn()
        except CloudError as exc:
            failures += 1
            if not exc.retryable or failures >= policy.max_attempts:
                raise
            wait = policy.delay(exc, failures)
            if on_retry is not None:
                on_retry(exc, failures, wait)
            sleep(wait)

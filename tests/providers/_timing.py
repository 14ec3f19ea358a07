"""Timing assertions shared by the rate-limit tests."""
from __future__ import annotations


def assert_held_to_rate(stamps, rate, burst, slack=1):
    """No window between two calls holds more calls than `rate` allows, plus the burst and `slack`
    (one call of slack absorbs scheduling jitter between the limiter and the recorded stamp)."""
    stamps = sorted(stamps)
    for i in range(len(stamps)):
        for j in range(i + 1, len(stamps)):
            calls = j - i + 1
            allowed = rate * (stamps[j] - stamps[i]) + burst + slack
            assert calls <= allowed, f"{calls} calls in {stamps[j] - stamps[i]:.3f}s at {rate}/s"

"""Timing assertions shared by the rate-limit tests."""
from __future__ import annotations


def assert_held_to_rate(stamps, rate, burst, jitter=0.1):
    """No window between two stamps holds more calls than `rate` allows plus the burst.

    A stamp is taken a little after the token (when the test or the emulator records the call),
    so each window is widened by `jitter` seconds of scheduling delay on a busy host.
    """
    stamps = sorted(stamps)
    for i in range(len(stamps)):
        for j in range(i + 1, len(stamps)):
            calls = j - i + 1
            allowed = rate * (stamps[j] - stamps[i] + jitter) + burst
            assert calls <= allowed, f"{calls} calls in {stamps[j] - stamps[i]:.3f}s at {rate}/s"

"""Waiting on a condition instead of sleeping for a guessed time (the suite runs on busy hosts)."""
from __future__ import annotations

import time


def wait_until(probe, what: str, timeout: float = 30.0, interval: float = 0.02):
    """Call probe() until it returns something truthy and return that; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {value!r})")
        time.sleep(interval)

"""Prometheus metrics. Counters live in the process that counts (the worker); with
PROMETHEUS_MULTIPROC_DIR set (the embedded `run` sets it) /metrics adds up every process."""
from __future__ import annotations

import os

from prometheus_client import Counter, Histogram

MACHINES_CREATED = Counter("bridgx_machines_created", "Machines the cloud accepted to create", ["provider"])
MACHINES_DELETED = Counter("bridgx_machines_deleted", "Machines the cloud accepted to delete", ["provider"])
CLOUD_CALLS = Counter("bridgx_cloud_calls", "Cloud API attempts", ["provider", "api", "outcome"])
THROTTLES = Counter("bridgx_cloud_throttles", "Cloud API attempts answered with throttling", ["provider", "api"])
CALL_SECONDS = Histogram("bridgx_cloud_call_seconds", "Cloud API attempt latency", ["provider", "api"],
                         buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))


def on_cloud_call(provider, api: str, outcome: str, seconds: float) -> None:
    name = provider.name
    CLOUD_CALLS.labels(name, api, outcome).inc()
    CALL_SECONDS.labels(name, api).observe(seconds)
    if outcome == "throttled":
        THROTTLES.labels(name, api).inc()


def install() -> None:
    from app.providers import registry
    registry.remove_call_listener(on_cloud_call)
    registry.add_call_listener(on_cloud_call)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

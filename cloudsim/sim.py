"""CloudSim: the model plus the knobs (credentials, latency, rates, stock, faults) and the request log."""
from __future__ import annotations

import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Optional

from .catalog import CATALOGUES
from .model import Cloud, SimError, SimInstance, SimRule

OP_CLASSES = ("create", "describe", "delete", "other")


@dataclass(frozen=True)
class RequestRecord:
    ts: float  # epoch seconds when the request arrived
    provider: str
    api: str
    op: str  # create / describe / delete / other
    access_key: str
    region: str
    outcome: str  # "ok" or the error code the client got


def _per_op(value, name: str) -> dict:
    """Accept a number (every op class) or a dict keyed by op class, "*", or (provider, op)."""
    if value is None:
        return {}
    if isinstance(value, (int, float)):
        return {"*": float(value)}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a number or a dict")
    return dict(value)


class CloudSim:
    """One simulated cloud with a face per real API; see cloudsim/README.md for the knobs."""

    def __init__(self, credentials: Optional[dict] = None, boot_seconds: float = 0.0, latency=None,
                 rates=None, capacity: Optional[dict] = None, error_rate: float = 0.0,
                 throttle_rate: float = 0.0, seed: Optional[int] = None, quota: Optional[dict] = None,
                 lost_reply_rate: float = 0.0):
        self.cloud = Cloud(seed)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._log: list[RequestRecord] = []
        self._buckets: dict = {}
        if credentials is None:
            credentials = {"AKSIM" + secrets.token_hex(8).upper(): secrets.token_urlsafe(24)}
        self._credentials: dict = {}
        self._latency: dict = {}
        self._rates: dict = {}
        self._error_rate = self._throttle_rate = self._lost_reply_rate = 0.0
        self.configure(credentials=credentials, boot_seconds=boot_seconds, latency=latency, rates=rates,
                       capacity=capacity or {}, error_rate=error_rate, throttle_rate=throttle_rate,
                       quota=quota or {}, lost_reply_rate=lost_reply_rate)

    # ------------------------------------------------------------------ knobs
    def configure(self, *, credentials=None, boot_seconds=None, latency=None, rates=None, capacity=None,
                  error_rate=None, throttle_rate=None, quota=None, lost_reply_rate=None, stock_outs=None,
                  spot_refused=None, die_after=None, kill=None) -> None:
        """Change knobs at run time; a knob given replaces its old value, one left out is kept.

        latency: seconds per op class ({"create": 0.5, "*": 0.01}) or one number for all.
        rates: calls/second per (access key, region, op class) bucket, keyed like latency;
          ("AlibabaCloud", "create") keys override per provider. Burst = max(1, rate).
        capacity: {(provider, zone, instance_type): max live instances}.
        quota: {provider or (provider, region): max live instances per region}.
        error_rate / throttle_rate: fraction of admitted calls answered with a transient 5xx /
          the throttling error. lost_reply_rate: fraction of successful calls whose effect is
          kept but whose reply is a transient 5xx (to exercise client-token replays).
        stock_outs: {(provider, zone, instance_type)} answering out of stock (lifecycle_faults.py).
        spot_refused: {provider or (provider, zone, instance_type)} refusing spot creates.
        die_after: [{"after", "fraction", "spot_only", "how"}] rules for machines created from now on.
        kill: [{"provider", "instance_ids", "after", "how"}] replaces the pending one-offs; an id the
          cloud never had is a ValueError, raised before any knob changes.
        """
        for k in kill or ():
            known = {i.instance_id for i in self.cloud.instances(k["provider"], ids=k["instance_ids"],
                                                                 include_deleted=True)}
            unknown = [i for i in k["instance_ids"] if i not in known]
            if unknown:
                raise ValueError(f"kill: no {k['provider']} instance {', '.join(unknown[:5])}")
        with self._lock:
            if credentials is not None:
                self._credentials = dict(credentials)
            if latency is not None:
                self._latency = _per_op(latency, "latency")
            if rates is not None:
                self._rates = _per_op(rates, "rates")
                self._buckets.clear()
            if error_rate is not None:
                self._error_rate = float(error_rate)
            if throttle_rate is not None:
                self._throttle_rate = float(throttle_rate)
            if lost_reply_rate is not None:
                self._lost_reply_rate = float(lost_reply_rate)
        with self.cloud._lock:
            if stock_outs is not None:
                self.cloud.faults.stock_outs = set(stock_outs)
            if spot_refused is not None:
                self.cloud.faults.spot_refused = set(spot_refused)
            if die_after is not None:
                self.cloud.faults.rules = [dict(r) for r in die_after]
            if kill is not None:
                self.cloud.faults.set_kills(kill)
            if boot_seconds is not None:
                self.cloud.boot_seconds = float(boot_seconds)
            if capacity is not None:
                self.cloud.capacity = dict(capacity)
            if quota is not None:
                self.cloud.quota = dict(quota)

    def knobs(self) -> dict:
        """The fault knobs as configured now (the names `configure` takes)."""
        with self._lock:
            out = {"error_rate": self._error_rate, "throttle_rate": self._throttle_rate,
                   "lost_reply_rate": self._lost_reply_rate, "latency": dict(self._latency),
                   "rates": dict(self._rates)}
        with self.cloud._lock:
            out.update(boot_seconds=self.cloud.boot_seconds, capacity=dict(self.cloud.capacity),
                       quota=dict(self.cloud.quota), stock_outs=set(self.cloud.faults.stock_outs),
                       spot_refused=set(self.cloud.faults.spot_refused),
                       die_after=[dict(r) for r in self.cloud.faults.rules],
                       kill=self.cloud.faults.pending_kills(time.time()))
        return out

    @property
    def credentials(self) -> dict:
        with self._lock:
            return dict(self._credentials)

    def secret_for(self, access_key: str) -> Optional[str]:
        with self._lock:
            return self._credentials.get(access_key)

    @staticmethod
    def _lookup(table: dict, provider: str, op: str):
        for key in ((provider, op), op, (provider, "*"), "*"):
            if key in table:
                return table[key]
        return None

    def admit(self, provider: str, access_key: str, region: str, op: str) -> None:
        """Apply the fault knobs and rate limit to one authenticated call, then its latency.

        Raises SimError("throttled", retry_after=seconds) or SimError("internal").
        """
        with self._lock:
            if self._throttle_rate and self._rng.random() < self._throttle_rate:
                rate = self._lookup(self._rates, provider, op)
                raise SimError("throttled", "request", retry_after=1.0 / rate if rate else 0.1)
            rate = self._lookup(self._rates, provider, op)
            if rate is not None:
                now = time.monotonic()
                burst = max(1.0, rate)
                key = (provider, access_key, region, op)
                tokens, last = self._buckets.get(key, (burst, now))
                tokens = min(burst, tokens + (now - last) * rate)
                if tokens < 1.0:
                    self._buckets[key] = (tokens, now)
                    raise SimError("throttled", "request", retry_after=(1.0 - tokens) / rate, rate=rate)
                self._buckets[key] = (tokens - 1.0, now)
            if self._error_rate and self._rng.random() < self._error_rate:
                raise SimError("internal", "request")
            delay = self._lookup(self._latency, provider, op) or 0.0
        if delay > 0:
            time.sleep(delay)

    def reply_lost(self) -> bool:
        """Whether this successful call's reply should be replaced by a transient error."""
        with self._lock:
            return bool(self._lost_reply_rate) and self._rng.random() < self._lost_reply_rate

    def record(self, ts: float, provider: str, api: str, op: str, access_key: str, region: str,
               outcome: str) -> None:
        with self._lock:
            self._log.append(RequestRecord(ts, provider, api, op, access_key, region, outcome))

    # ------------------------------------------------------------------ inspection
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def instances(self, provider: Optional[str] = None, region: Optional[str] = None,
                  tags: Optional[dict] = None, include_deleted: bool = False) -> list[SimInstance]:
        """Instances with their status brought up to date, in creation order."""
        return self.cloud.instances(provider, region, tags=tags, include_deleted=include_deleted)

    def reset(self) -> None:
        """Forget every resource, client token, rate bucket and logged request; knobs stay."""
        self.cloud.reset()
        with self._lock:
            self._log.clear()
            self._buckets.clear()

    # ------------------------------------------------------------------ direct manipulation
    @staticmethod
    def _name_tags(provider: str, name: str) -> Optional[dict]:
        """Where the API reads names from a "Name" tag (AWS), an added object carries one."""
        return {"Name": name} if name and CATALOGUES[provider].names_by_tag else None

    def add_vpc(self, provider: str, region: str, name: str, cidr: str) -> str:
        return self.cloud.create_vpc(provider, region, cidr, name, tags=self._name_tags(provider, name)).vpc_id

    def remove_vpc(self, provider: str, vpc_id: str) -> None:
        """Remove a VPC as if deleted behind our back, with its subnets and groups."""
        self.cloud.delete_vpc(provider, None, vpc_id, force=True)

    def add_subnet(self, provider: str, region: str, vpc_id: str, zone: str, name: str, cidr: str) -> str:
        return self.cloud.create_subnet(provider, region, vpc_id, zone, cidr, name,
                                        tags=self._name_tags(provider, name)).subnet_id

    def remove_subnet(self, provider: str, subnet_id: str) -> None:
        self.cloud.delete_subnet(provider, None, subnet_id, force=True)

    def add_security_group(self, provider: str, region: str, vpc_id: Optional[str], name: str,
                           rules: Optional[list] = None) -> str:
        """rules: SimRule objects or dicts of SimRule fields."""
        group = self.cloud.create_security_group(provider, region, vpc_id, name, tags=self._name_tags(provider, name))
        if rules:
            self.cloud.add_rules(provider, region, group.group_id,
                                 [r if isinstance(r, SimRule) else SimRule(**r) for r in rules])
        return group.group_id

    def remove_security_group(self, provider: str, group_id: str) -> None:
        self.cloud.delete_security_group(provider, None, group_id, force=True)

    # ------------------------------------------------------------------ persistence
    def persist(self, path, interval: float = 1.0):
        """Keep the cloud's state in `path` across restarts: load it now if the file exists, then
        save whenever it changed (checked every `interval` s) and when the returned object's
        stop() is called. Returns that object."""
        return _Persister(self, path, interval)

    # ------------------------------------------------------------------ serving
    def serve(self, host: str = "127.0.0.1", port: int = 0):
        """Serve every face on one port from a background thread; returns a SimServer."""
        from .server import SimServer
        return SimServer(self, host, port)


class _Persister:
    """Writes the emulator's state to a file (atomically: a temporary file, then rename)."""

    def __init__(self, sim: CloudSim, path, interval: float):
        import os
        from pathlib import Path
        self.sim, self.path, self.interval = sim, Path(path), interval
        if self.path.exists():
            sim.cloud.load_state(self.path.read_bytes())
        self._last = self.path.read_bytes() if self.path.exists() else b""
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="cloudsim-persist", daemon=True)
        self._thread.start()

    def save(self) -> None:
        import os
        blob = self.sim.cloud.dump_state()
        if blob == self._last:
            return
        tmp = self.path.with_name(self.path.name + f".{self._pid}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, self.path)
        self._last = blob

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:  # noqa: BLE001 - a failed save is retried on the next tick
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.save()

"""When to ask the cloud whether new machines are running: per batch, adaptively.

Machines of one batch were accepted together, so each batch is polled as one describe call. Until
any machine has been seen running, a batch is polled at growing intervals (0.5 s ×1.5, capped at
1 s). The first machines seen running teach the boot time (its lower bound: the age at the last
poll that found them not ready); from then on a batch is first polled when it is due to have
booted, then at short growing intervals, so the describe budget goes where answers are likely.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Group:
    key: object
    ids: set
    created: float  # epoch seconds the cloud accepted the batch
    next_poll: float
    interval: float = 0.5
    in_flight: bool = False
    last_not_ready: float | None = None


class Readiness:
    def __init__(self, first_poll: float = 0.5, cap: float = 1.0):
        self.groups: dict[object, Group] = {}
        self.first_poll, self.cap = first_poll, cap
        self.boot: float | None = None  # learned boot time, seconds

    @property
    def pending(self) -> int:
        return sum(len(g.ids) for g in self.groups.values())

    def add(self, key, ids, created: float) -> None:
        if not ids:
            return
        start = created + (self.boot if self.boot is not None else self.first_poll)
        self.groups[key] = Group(key, set(ids), created, start, self.first_poll)

    def due(self, now: float, limit: int) -> list[Group]:
        """Up to `limit` groups to poll now, oldest first (the likeliest to be ready)."""
        ready = [g for g in self.groups.values() if not g.in_flight and g.next_poll <= now]
        ready.sort(key=lambda g: g.created)
        return ready[:limit]

    def next_due(self, now: float) -> float | None:
        times = [g.next_poll for g in self.groups.values() if not g.in_flight]
        return max(min(times) - now, 0.0) if times else None

    def observed(self, group: Group, ready_ids, now: float) -> None:
        """Record a poll's answer: drop ready ids, learn the boot time, schedule the next poll."""
        group.in_flight = False
        if ready_ids:
            boot = (group.last_not_ready or group.created) - group.created
            if self.boot is None or boot < self.boot:
                self.boot = boot
                for g in self.groups.values():  # bring forward everyone now known to be due
                    if g.created + boot > now:
                        g.next_poll, g.interval = g.created + boot, self.first_poll / 2
        group.ids -= set(ready_ids)
        if not group.ids:
            del self.groups[group.key]
            return
        group.last_not_ready = now if not ready_ids else group.last_not_ready
        if self.boot is not None and group.created + self.boot > now:
            group.next_poll, group.interval = group.created + self.boot, self.first_poll / 2
        else:
            group.interval = min(group.interval * 1.5, self.cap)
            group.next_poll = now + group.interval

    def remove(self, ids) -> None:
        ids = set(ids)
        for key in list(self.groups):
            self.groups[key].ids -= ids
            if not self.groups[key].ids:
                del self.groups[key]

    def expired(self, now: float, timeout: float) -> list[str]:
        return [i for g in self.groups.values() if not g.in_flight and now - g.created > timeout for i in g.ids]

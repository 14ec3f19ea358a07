"""Token buckets that keep our calls under each cloud's per-(account, region, API) rate.

A bucket key is (provider name, account row, region, API) (registry.bucket_key). Two limiters
share one interface, `acquire(key, rate, urgent=False) -> seconds waited`, which blocks until the
call may go:

- LocalRateLimiter: one bucket per key shared by every thread of this process.
- RedisRateLimiter: the bucket lives in Redis and is updated by one atomic Lua script, so every
  worker process (and host) pointed at the same Redis shares a single budget per key.

A caller takes a token if one is there; otherwise it sleeps until the next one is due and tries
again. Tokens are never promised ahead of time, so a thread that wakes late (a busy host, a GC
pause) cannot add its overdue call to the ones due now: what the cloud sees stays within the
rate plus the burst even after a stall.

Two priorities. An urgent call (`URGENT` set in the calling thread's context: the scaling engine
marks each task's first create batch and its first readiness polls) is served before every normal
call waiting on the same key: a normal call takes a token only if one is left over for each urgent
caller waiting. Among themselves, urgent calls and normal calls are each served in arrival order
within a process, and in no particular order across processes. Through Redis, an urgent caller
is waiting while it keeps asking: one that stops (its process died) lapses URGENT_GRACE seconds
after it was due back, so it holds the others back no longer.

Calls waiting on one key in one process queue there (`_Queues`): urgent ones first, then by arrival,
and only the first asks the bucket (sleeping until its token is due); the next is let in when it
has gone. So a key's bucket, in Redis or in memory, is asked about twice per token, not once per
waiting call per token (200 queued creates at 10/s used to ask 2,000 times a second).

`burst` is the bucket size. It defaults to 1 token, i.e. calls are spaced evenly at the rate:
clouds that count requests per second window would throttle a full bucket emptied at once. A
bucket may also hold LATE_TOKENS more, so that a call taking its token a little late (its thread
woke late on a busy host) does not push every later token back by as much: the calls stay on
the rate's schedule, and no 1-second window holds more calls than rate + burst (in whole calls).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from contextvars import ContextVar
from typing import Callable, Optional

log = logging.getLogger(__name__)

Key = tuple  # (provider, account, region, api)
# Set in the thread that makes a cloud call; registry._call hands it to the limiter.
URGENT: ContextVar[bool] = ContextVar("bridgx_urgent_call", default=False)
URGENT_GRACE = 2.0  # seconds a silent urgent waiter still counts in Redis after it was due back
LATE_TOKENS = 0.25  # lateness a bucket carries over, in tokens (25 ms at 10 calls/s)
REDIS_RETRY_SECONDS = 1.0  # after a Redis error, this process's calls use local buckets this long


def resolve_rate(api: str, rates: dict) -> Optional[float]:
    """The rate for `api` from a rates dict: exact name, else the longest "Prefix*", else "*".

    None or a value <= 0 means unlimited.
    """
    if api in rates:
        rate = rates[api]
    else:
        prefixes = [p for p in rates if p.endswith("*") and p != "*" and api.startswith(p[:-1])]
        if prefixes:
            rate = rates[max(prefixes, key=len)]
        else:
            rate = rates.get("*")
    if rate is None or rate <= 0:
        return None
    return float(rate)


class TokenBucket:
    """One thread-safe bucket: `rate` tokens per second, holding at most `burst` tokens."""

    def __init__(self, rate: float, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self.urgent = 0  # urgent callers waiting in acquire()

    def try_acquire(self, urgent: bool = False) -> float:
        """Take a token if one is there and return 0; else the seconds until the next one is due.
        A normal call leaves one token for each urgent caller waiting."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst + LATE_TOKENS, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            need = 1.0 if urgent else 1.0 + self.urgent
            if self._tokens >= need:
                self._tokens -= 1.0
                return 0.0
            return (need - self._tokens) / self.rate

    def acquire(self, urgent: bool = False) -> float:
        """Block until a token is taken; return the seconds waited."""
        if not urgent:
            return _wait_for(self.try_acquire, self._sleep)
        with self._lock:
            self.urgent += 1
        try:
            return _wait_for(lambda: self.try_acquire(urgent=True), self._sleep)
        finally:
            with self._lock:
                self.urgent -= 1


class _Queue:
    """The calls of this process waiting on one key: urgent first, then by arrival. `turn()` blocks
    until the caller is first; `done()` lets the next one in. Each waiting call has its own event,
    so a token wakes one thread, not all of them. An urgent call arriving while a normal one asks
    is let in at once (both ask then; the bucket keeps the token for the urgent one)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting: list = []  # heap of (0 urgent / 1 normal, arrival, event)
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return len(self._waiting)

    def _let_in(self) -> None:
        if self._waiting:
            self._waiting[0][2].set()

    def turn(self, urgent: bool) -> tuple:
        ticket = (0 if urgent else 1, next(self._arrivals), threading.Event())
        with self._lock:
            heapq.heappush(self._waiting, ticket)
            self._let_in()
        ticket[2].wait()
        return ticket

    def done(self, ticket: tuple) -> None:
        with self._lock:
            self._waiting.remove(ticket)
            heapq.heapify(self._waiting)
            self._let_in()


class _Queues:
    """A `_Queue` per key, made on first use."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queues: dict = {}

    def waiting(self, key: Key) -> int:
        """Calls of this process waiting on `key` (the one asking included)."""
        with self._lock:
            queue = self._queues.get(key)
        return len(queue) if queue is not None else 0

    def run(self, key: Key, urgent: bool, take: Callable[[], float]) -> float:
        """take() once this call is first among the key's waiting calls; the seconds waited in all."""
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue()
        started = time.monotonic()
        ticket = queue.turn(urgent)
        try:
            queued = time.monotonic() - started
            return queued + take()
        finally:
            queue.done(ticket)


def _wait_for(try_acquire: Callable[[], float], sleep: Callable[[float], None]) -> float:
    waited = 0.0
    while True:
        wait = try_acquire()
        if wait <= 0:
            return waited
        sleep(wait)
        waited += wait


class LocalRateLimiter:
    """Buckets per key, shared by all threads of the process."""

    def __init__(self, burst: float = 1.0, sleep: Callable[[float], None] = time.sleep):
        self.burst = burst
        self._sleep = sleep
        self._buckets: dict = {}
        self._lock = threading.Lock()
        self._queues = _Queues()

    def waiting(self, key: Key) -> int:
        return self._queues.waiting(key)

    def acquire(self, key: Key, rate: Optional[float], urgent: bool = False) -> float:
        """Block until `key` may make one call at `rate` calls/s (None: unlimited)."""
        if rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate:
                # A changed rate (reconfiguration) starts a fresh bucket.
                bucket = self._buckets[key] = TokenBucket(rate, self.burst, sleep=self._sleep)
        return self._queues.run(key, urgent, lambda: bucket.acquire(urgent))


# Take one token if there is one; KEYS[1] = bucket, KEYS[2] = urgent waiters (waiter id -> when its
# claim lapses); ARGV = rate (tokens/s), burst, urgent (1/0), waiter id, grace (s), late tokens
# (carried over beyond the burst, see LATE_TOKENS). A normal call
# leaves one token per unlapsed urgent waiter; an urgent call that must wait (re)claims its place
# until `grace` seconds after it is due back. Returns "0" or the seconds until the caller's token,
# as a string (Redis would truncate a Lua float reply to an integer). Redis' own clock is used so
# that processes on hosts with skewed clocks agree. Values are stored with %.6f because Lua's
# default number format keeps 14 digits, too few for epoch microseconds.
_LUA_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local urgent = ARGV[3] == '1'
local grace = tonumber(ARGV[5])
local capacity = burst + tonumber(ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(capacity, tokens + math.max(0, now - stamp) * rate)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.6f', now))
local need = 1
if not urgent then
  need = 1 + redis.call('ZCARD', KEYS[2])
end
local wait = 0
if tokens >= need then
  tokens = tokens - 1
  if urgent then
    redis.call('ZREM', KEYS[2], ARGV[4])
  end
else
  wait = (need - tokens) / rate
  if urgent then
    redis.call('ZADD', KEYS[2], string.format('%.6f', now + wait + grace), ARGV[4])
    -- an urgent wait is at most 1/rate: this outlives every claim in the set
    redis.call('PEXPIRE', KEYS[2], math.ceil((1 / rate + grace) * 1000) + 1000)
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'stamp', string.format('%.6f', now))
-- Once the bucket would be full again its state carries no information: let it expire.
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(0, burst - tokens) / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every process using the same Redis database.

    When Redis cannot be reached the limiter falls back to this process's own buckets (and logs
    it) rather than failing the cloud call: a Redis outage should slow scaling, not stop it.
    """

    def __init__(self, url: Optional[str] = None, burst: float = 1.0, prefix: str = "bridgx:ratelimit:",
                 client=None, sleep: Callable[[float], None] = time.sleep):
        if client is None:
            import redis  # lazily: the embedded configuration runs without Redis

            # Short timeouts: a hung Redis must fall back quickly, not stall every cloud call.
            client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.client = client
        self.burst = max(1.0, float(burst))
        self.prefix = prefix
        self._sleep = sleep
        self._script = client.register_script(_LUA_TAKE)
        self._fallback = LocalRateLimiter(burst)
        self._warned_at = 0.0
        self._down_until = 0.0  # after a Redis error, calls use the fallback without asking Redis
        self._queues = _Queues()

    def waiting(self, key: Key) -> int:
        return self._queues.waiting(key)

    def key_name(self, key: Key) -> str:
        return self.prefix + ":".join(str(part) for part in key)

    def try_acquire(self, key: Key, rate: float, urgent: bool = False, waiter: str = "") -> float:
        """Take a token of `key` and return 0, or return the seconds until the caller's is due.
        `waiter` names an urgent caller across its tries."""
        name = self.key_name(key)
        return float(self._script(keys=[name, name + ":urgent"],
                                  args=[rate, self.burst, int(urgent), waiter, URGENT_GRACE, LATE_TOKENS]))

    def acquire(self, key: Key, rate: Optional[float], urgent: bool = False) -> float:
        """Block until `key` may make one call at `rate` calls/s (None: unlimited)."""
        if rate is None:
            return 0.0
        import redis

        waiter = uuid.uuid4().hex if urgent else ""

        def take() -> float:
            if time.monotonic() < self._down_until:
                # another call has just found Redis gone: the calls queued behind it must not
                # each wait out its timeout in turn
                raise redis.ConnectionError("Redis was unavailable a moment ago")
            return _wait_for(lambda: self.try_acquire(key, rate, urgent, waiter), self._sleep)
        try:
            return self._queues.run(key, urgent, take)
        except redis.RedisError as exc:
            self._down_until = max(self._down_until, time.monotonic() + REDIS_RETRY_SECONDS)
            if time.monotonic() - self._warned_at > 60:  # one warning a minute, not one a call
                self._warned_at = time.monotonic()
                log.warning("rate limiter: Redis unavailable (%s); using per-process buckets", exc)
            return self._fallback.acquire(key, rate, urgent)

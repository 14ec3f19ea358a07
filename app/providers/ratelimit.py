"""Token buckets that keep our calls under each cloud's per-(account, region, API) rate.

A bucket key is (provider name, account row, region, API) (registry.bucket_key). Two limiters
share one interface, `acquire(key, rate) -> seconds waited`, which blocks until the call may go:

- LocalRateLimiter: one bucket per key shared by every thread of this process.
- RedisRateLimiter: the bucket lives in Redis and is updated by one atomic Lua script, so every
  worker process (and host) pointed at the same Redis shares a single budget per key.

A caller takes a token if one is there; otherwise it sleeps until the next one is due and tries
again. Tokens are never promised ahead of time, so a thread that wakes late (a busy host, a GC
pause) cannot add its overdue call to the ones due now: what the cloud sees stays within the
rate plus the burst even after a stall. Waiters are not served strictly in arrival order.

`burst` is the bucket size. It defaults to 1 token, i.e. calls are spaced evenly at the rate:
clouds that count requests per second window would throttle a full bucket emptied at once.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

log = logging.getLogger(__name__)

Key = tuple  # (provider, account, region, api)


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

    def try_acquire(self) -> float:
        """Take a token if one is there and return 0; else the seconds until the next one is due."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def acquire(self) -> float:
        """Block until a token is taken; return the seconds waited."""
        return _wait_for(self.try_acquire, self._sleep)


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

    def __init__(self, burst: float = 1.0):
        self.burst = burst
        self._buckets: dict = {}
        self._lock = threading.Lock()

    def acquire(self, key: Key, rate: Optional[float]) -> float:
        """Block until `key` may make one call at `rate` calls/s (None: unlimited)."""
        if rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate:
                # A changed rate (reconfiguration) starts a fresh bucket.
                bucket = self._buckets[key] = TokenBucket(rate, self.burst)
        return bucket.acquire()


# Take one token if there is one; KEYS[1] = bucket, ARGV = rate (tokens/s), burst. Returns "0"
# or the seconds until the next token, as a string (Redis would truncate a Lua float reply to an
# integer). Redis' own clock is used so that processes on hosts with skewed clocks agree. Values
# are stored with %.6f because Lua's default number format keeps 14 digits, too few for epoch
# microseconds.
_LUA_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'stamp', string.format('%.6f', now))
-- Once the bucket would be full again its state carries no information: let it expire.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
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

    def key_name(self, key: Key) -> str:
        return self.prefix + ":".join(str(part) for part in key)

    def try_acquire(self, key: Key, rate: float) -> float:
        """Take a token of `key` and return 0, or return the seconds until the next one."""
        return float(self._script(keys=[self.key_name(key)], args=[rate, self.burst]))

    def acquire(self, key: Key, rate: Optional[float]) -> float:
        """Block until `key` may make one call at `rate` calls/s (None: unlimited)."""
        if rate is None:
            return 0.0
        import redis

        try:
            return _wait_for(lambda: self.try_acquire(key, rate), self._sleep)
        except redis.RedisError as exc:
            if time.monotonic() - self._warned_at > 60:  # one warning a minute, not one a call
                self._warned_at = time.monotonic()
                log.warning("rate limiter: Redis unavailable (%s); using per-process buckets", exc)
            return self._fallback.acquire(key, rate)

"""Each API key's token bucket and daily quota: in this process, or in Redis for every API node at once.

A key's bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; a counted request takes
one (a batch of N takes N). Its daily quota counts the same units per UTC day. A refusal says
which of the two refused and when to retry. An answer's size is known only once it is sent: it is
drawn afterwards (:meth:`Limiter.debit`, see :mod:`gosandbox.auth.metering`), past empty if need
be, and a bucket in debt refuses every request until it has refilled past it.

In-process (embedded mode) both live in a dict: a restart forgets them (a full bucket, and today's
count from zero). With ``GOSANDBOX_QUEUE_URL``, one Lua script refills, checks the quota and takes
in one atomic step on the Redis server, with the Redis server's clock (API nodes' clocks may
differ): every node draws from the same bucket, and the daily count survives restarts of the nodes.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from gosandbox.auth.keys import ApiKey
from gosandbox.jobs.keys import daily_quota_key, rate_bucket_key

Refusal = Literal["burst", "daily"]

#: A day's counter outlives its day (a node whose clock is a little behind still finds it).
_DAY_TTL_S = 2 * 86400


@dataclass(frozen=True)
class Decision:
    """A bucket's answer: allowed or not (and why), and the state after it."""

    refused: Refusal | None
    tokens: float
    daily_used: int
    #: the clock that decided (Redis's in distributed mode), seconds since the epoch
    now: float

    @property
    def allowed(self) -> bool:
        return self.refused is None


class Limiter(Protocol):
    #: take() does I/O: call it off the event loop
    blocking: bool

    def take(self, key: ApiKey, cost: int) -> Decision:
        """Take ``cost`` units from the key's bucket and quota, or none if either lacks them (cost 0: peek)."""
        ...

    def debit(self, key: ApiKey, units: float) -> None:
        """Draw ``units`` from the key's bucket whatever it holds (below zero: a debt); not from its daily quota."""
        ...


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def seconds_to_utc_midnight(now: float) -> int:
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((today + timedelta(days=1)).timestamp() - now))


def retry_after_s(key: ApiKey, decision: Decision, cost: int) -> int:
    """Whole seconds (at least 1) until ``cost`` units could be taken."""
    if decision.refused == "daily":
        return seconds_to_utc_midnight(decision.now)
    return max(1, math.ceil((cost - decision.tokens) / key.rate_per_s))


class MemoryLimiter:
    """Buckets and quotas in this process (one API node)."""

    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._used: dict[tuple[str, str], int] = {}  # (name, UTC day) -> units

    def take(self, key: ApiKey, cost: int) -> Decision:
        now = time.time()
        day = (key.name, utc_day(now))
        with self._lock:
            tokens, at = self._buckets.get(key.name, (float(key.burst), now))
            tokens = min(float(key.burst), tokens + max(0.0, now - at) * key.rate_per_s)
            used = self._used.get(day, 0)
            refused: Refusal | None = None
            if key.daily and used + cost > key.daily:
                refused = "daily"
            elif tokens < cost:
                refused = "burst"
            else:
                tokens -= cost
                used += cost
                self._forget_other_days(day)
                self._used[day] = used
            self._buckets[key.name] = (tokens, now)
        return Decision(refused, tokens, used, now)

    def debit(self, key: ApiKey, units: float) -> None:
        now = time.time()
        with self._lock:
            tokens, at = self._buckets.get(key.name, (float(key.burst), now))
            tokens = min(float(key.burst), tokens + max(0.0, now - at) * key.rate_per_s)
            self._buckets[key.name] = (tokens - units, now)

    def _forget_other_days(self, day: tuple[str, str]) -> None:
        if day not in self._used:
            for old in [d for d in self._used if d[0] == day[0]]:
                del self._used[old]


#: KEYS: bucket, today's counter. ARGV: rate per second, burst, cost, daily quota (0: none), counter TTL.
#: Returns {refusal or "", tokens, units used today, now}; numbers as strings (Lua would truncate them).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, cost, daily = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local refused = ''
if daily > 0 and used + cost > daily then
  refused = 'daily'
elseif tokens < cost then
  refused = 'burst'
else
  tokens = tokens - cost
  if cost > 0 then
    used = redis.call('INCRBY', KEYS[2], cost)
    redis.call('EXPIRE', KEYS[2], ARGV[5])
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {refused, tostring(tokens), tostring(used), tostring(now)}
"""
#: KEYS: bucket. ARGV: rate per second, burst, units. The bucket kept until it would be full again (a debt too).
_DEBIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, units = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate) - units
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(tokens)
"""


class RedisLimiter:
    """Buckets and quotas in Redis, shared by every API node (distributed mode)."""

    blocking = True

    def __init__(self, url: str) -> None:
        from gosandbox.jobs.redis_clients import sync_client  # noqa: PLC0415 - Redis only when configured

        self._client = sync_client(url)
        self._take = self._client.register_script(_TAKE)
        self._debit = self._client.register_script(_DEBIT)

    def take(self, key: ApiKey, cost: int) -> Decision:
        from redis.exceptions import RedisError  # noqa: PLC0415

        from gosandbox.errors import QueueUnavailable  # noqa: PLC0415

        keys = [rate_bucket_key(key.name), daily_quota_key(key.name, utc_day(time.time()))]
        try:
            refused, tokens, used, now = self._take(keys=keys, args=[key.rate_per_s, key.burst, cost, key.daily,
                                                                     _DAY_TTL_S])  # fmt: skip
        except RedisError as exc:
            raise QueueUnavailable(f"the rate limiter's Redis does not answer ({type(exc).__name__})") from exc
        verdict = refused.decode() if isinstance(refused, bytes) else str(refused)
        return Decision(verdict or None, float(tokens), int(float(used)), float(now))  # type: ignore[arg-type]

    def debit(self, key: ApiKey, units: float) -> None:
        from redis.exceptions import RedisError  # noqa: PLC0415

        from gosandbox.errors import QueueUnavailable  # noqa: PLC0415

        try:
            self._debit(keys=[rate_bucket_key(key.name)], args=[key.rate_per_s, key.burst, units])
        except RedisError as exc:
            raise QueueUnavailable(f"the rate limiter's Redis does not answer ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._client.close()

"""Redis clients of the job layer, made one way: a connection broken by a Redis restart is retried, not fatal."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_RETRY_ON = [RedisConnectionError, RedisTimeoutError]


def sync_client(url: str) -> redis.Redis:
    retry = redis.retry.Retry(ExponentialBackoff(cap=1.0, base=0.05), 3)
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, retry=retry,
                                retry_on_error=_RETRY_ON, health_check_interval=30)  # fmt: skip


def async_client(url: str) -> redis.asyncio.Redis:
    """For the event loop that first uses it (blocking reads: no socket timeout, the server answers them)."""
    retry = redis.asyncio.retry.Retry(ExponentialBackoff(cap=1.0, base=0.05), 3)
    # One connection per live follower (each holds a blocking XREAD): room for many more than the default 100.
    return redis.asyncio.Redis.from_url(url, socket_connect_timeout=3, retry=retry, retry_on_error=_RETRY_ON,
                                        health_check_interval=30, max_connections=2000)  # fmt: skip

"""Job events across hosts: one Redis stream per job, written by workers, read by any API node."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio

from gosandbox.errors import QueueUnavailable
from gosandbox.jobs.events import RESULT, Event
from gosandbox.jobs.keys import events_key
from gosandbox.jobs.redis_clients import async_client, sync_client

logger = logging.getLogger(__name__)

#: A stream lives this long after its last event; the finished job's events are in the database too.
_STREAM_TTL_S = 3600
#: Once its events are stored with the submission, a stream serves late followers this long.
_RETIRED_TTL_S = 60


def _event(entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
    entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    name = fields.get(b"event", fields.get("event", b""))
    data = fields.get(b"data", fields.get("data", b"{}"))
    return Event(entry, name.decode() if isinstance(name, bytes) else name, json.loads(data))


class RedisEventLog:
    def __init__(self, url: str) -> None:
        self.url = url
        self._sync = sync_client(url)
        self._async: redis.asyncio.Redis | None = None

    def _client(self) -> redis.asyncio.Redis:
        if self._async is None:  # bound to the running event loop: made on first use there
            self._async = async_client(self.url)
        return self._async

    def publish(self, submission_id: str, name: str, data: dict[str, Any]) -> None:
        key = events_key(submission_id)
        try:
            pipe = self._sync.pipeline(transaction=False)
            pipe.xadd(key, {"event": name, "data": json.dumps(data, ensure_ascii=False)})
            pipe.expire(key, _STREAM_TTL_S)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not publish a %s event of %s: %s", name, submission_id, type(exc).__name__)

    def history(self, submission_id: str) -> list[Event]:
        try:
            entries: Any = self._sync.xrange(events_key(submission_id))
            return [_event(entry, fields) for entry, fields in entries]
        except redis.RedisError as exc:
            logger.warning("could not read the events of %s: %s", submission_id, exc)
            return []

    async def follow(self, submission_id: str, after: str | None, idle_s: float) -> AsyncIterator[Event | None]:
        cursor = after if after and _is_stream_id(after) else "0-0"
        key = events_key(submission_id)
        while True:
            try:
                answer: Any = await self._client().xread({key: cursor}, block=max(1, int(idle_s * 1000)), count=500)
            except redis.RedisError as exc:
                raise QueueUnavailable(f"lost the event stream of {submission_id} ({type(exc).__name__})") from exc
            if not answer:
                yield None
                continue
            for entry_id, fields in answer[0][1]:
                item = _event(entry_id, fields)
                cursor = item.id
                yield item
                if item.name == RESULT:
                    return

    def retire(self, submission_id: str) -> None:
        try:
            self._sync.expire(events_key(submission_id), _RETIRED_TTL_S)
        except redis.RedisError as exc:
            logger.warning("could not shorten the event stream of %s: %s", submission_id, type(exc).__name__)

    def ping(self) -> None:
        try:
            self._sync.ping()
        except redis.RedisError as exc:
            raise QueueUnavailable(f"Redis at the queue URL does not answer ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._sync.close()


def _is_stream_id(value: str) -> bool:
    first, _, second = value.partition("-")
    return first.isascii() and second.isascii() and first.isdigit() and second.isdigit() and len(value) < 40

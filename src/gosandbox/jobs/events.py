"""A job's event stream: ``state``, ``compile``, ``stdout``/``stderr`` chunks, then ``result``.

Two logs implement :class:`EventLog`: :class:`MemoryEventLog` inside one server, and
``RedisEventLog`` (``jobs/redis_events.py``) across API nodes and workers. When a job ends, its
events are also stored with the submission, so a finished job replays them from the database.
"""

from __future__ import annotations

import asyncio
import codecs
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

#: The last event of every job.
RESULT = "result"


@dataclass(frozen=True)
class Event:
    id: str
    name: str  # state, compile, stdout, stderr, result
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.name, "data": self.data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(str(data["id"]), str(data["event"]), dict(data["data"]))


def events_after(events: list[Event], last_id: str | None) -> list[Event]:
    """The events after the one with id ``last_id`` (all of them if no event has that id)."""
    for index, item in enumerate(events):
        if item.id == last_id:
            return events[index + 1 :]
    return events


class EventLog(Protocol):
    def publish(self, submission_id: str, name: str, data: dict[str, Any]) -> None:
        """Append an event (from any thread); never raises for a transport outage, only logs it."""

    def history(self, submission_id: str) -> list[Event]:
        """Every event published for the job so far."""

    def follow(self, submission_id: str, after: str | None, idle_s: float) -> AsyncIterator[Event | None]:
        """The job's events after ``after``, as they come, ending with ``result``; None after ``idle_s`` of quiet."""

    def retire(self, submission_id: str) -> None:
        """The job's events are stored with it: the live stream need only last a little longer."""

    def close(self) -> None: ...


class _Stream:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.active_at = time.monotonic()  # its last event, or its creation
        self.finished_at: float | None = None
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []


#: An unfinished stream quiet this long with nobody following belongs to a job that will not end here.
_ABANDONED_S = 3600.0


def _expired(stream: _Stream, now: float, keep_s: float) -> bool:
    """Finished ``keep_s`` ago; or quiet and unfollowed: never written, or left by a job that ended elsewhere."""
    if stream.finished_at is not None:
        return stream.finished_at < now - keep_s
    quiet_for = now - stream.active_at
    return not stream.waiters and (quiet_for > _ABANDONED_S or (not stream.events and quiet_for > keep_s))


class MemoryEventLog:
    """Events of the jobs this process runs; a finished job's stream is dropped ``keep_s`` after its end."""

    def __init__(self, keep_s: float = 120.0) -> None:
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._swept_at = time.monotonic()

    def _stream(self, submission_id: str) -> _Stream:
        stream = self._streams.get(submission_id)
        if stream is None:
            stream = self._streams[submission_id] = _Stream()
        return stream

    def publish(self, submission_id: str, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._drop_old()
            stream = self._stream(submission_id)
            stream.events.append(Event(str(len(stream.events) + 1), name, data))
            stream.active_at = time.monotonic()
            if name == RESULT:
                stream.finished_at = time.monotonic()
            waiters, stream.waiters = stream.waiters, []
        for loop, wake in waiters:
            loop.call_soon_threadsafe(wake.set)

    def _drop_old(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < 1.0:  # a scan per second at most, not one per chunk
            return
        self._swept_at = now
        old = [key for key, s in self._streams.items() if _expired(s, now, self.keep_s)]
        for key in old:
            del self._streams[key]

    def history(self, submission_id: str) -> list[Event]:
        with self._lock:
            stream = self._streams.get(submission_id)
            return list(stream.events) if stream else []

    async def follow(self, submission_id: str, after: str | None, idle_s: float) -> AsyncIterator[Event | None]:
        cursor = after
        while True:
            wake = asyncio.Event()
            with self._lock:
                stream = self._stream(submission_id)
                pending = events_after(stream.events, cursor)
                if not pending:
                    stream.waiters.append((asyncio.get_running_loop(), wake))
            for item in pending:
                yield item
                if item.name == RESULT:
                    return
            if pending:
                cursor = pending[-1].id
                continue
            try:
                await asyncio.wait_for(wake.wait(), idle_s)
            except TimeoutError:
                self._unwait(submission_id, wake)
                yield None
            except BaseException:  # the follower left (its client disconnected)
                self._unwait(submission_id, wake)
                raise

    def _unwait(self, submission_id: str, wake: asyncio.Event) -> None:
        with self._lock:
            stream = self._streams.get(submission_id)
            if stream is not None:
                stream.waiters = [(loop, w) for loop, w in stream.waiters if w is not wake]

    def retire(self, submission_id: str) -> None:
        with self._lock:  # finished or never accepted: dropped keep_s from now
            stream = self._streams.get(submission_id)
            if stream is not None and stream.finished_at is None:
                stream.finished_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._streams.clear()


class OutputEvents:
    """Turns the program's output chunks into ``stdout``/``stderr`` events, as they are written.

    Chunks that arrive within ``gather_s`` of each other are sent together (a program writing a
    byte at a time must not cost an event per byte); UTF-8 split across chunks is joined first. The
    text is kept as the program wrote it, as in results.
    """

    def __init__(self, publish: Callable[[str, dict[str, Any]], None], gather_s: float = 0.01) -> None:
        self._publish, self._gather_s = publish, gather_s
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")}
        self._pending: list[tuple[str, str]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._send_loop, name="output-events", daemon=True)
        self._thread.start()

    def write(self, name: str, data: bytes) -> None:
        self._add(name, self._decoders[name].decode(data))

    def _add(self, name: str, text: str) -> None:
        if not text:
            return
        with self._wake:
            if self._pending and self._pending[-1][0] == name:
                self._pending[-1] = (name, self._pending[-1][1] + text)
            else:
                self._pending.append((name, text))
            self._wake.notify()

    def _send_loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending and self._closed:
                    return
                # Gather what follows for a moment, unless the program is done: then send at once.
                self._wake.wait_for(lambda: self._closed, timeout=self._gather_s)
            self._flush()

    def _flush(self) -> None:
        with self._wake:
            batch, self._pending = self._pending, []
        for name, text in batch:
            self._publish(name, {"text": text})

    def close(self) -> None:
        """Send what is left; every output event is published when this returns."""
        for name, decoder in self._decoders.items():
            self._add(name, decoder.decode(b"", final=True))
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()
        self._flush()

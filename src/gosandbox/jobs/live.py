"""Interactive jobs' live stdin, from the edge that holds the client (a WebSocket) to the job that runs it.

Embedded (no queue), both are in this process (:class:`LiveInputs`): the edge stores the job, then opens its input
under the submission's id; the executor, which may claim the job a moment before that, waits for it. An interactive
job whose input never comes (its client left before) runs with its stdin closed and is cut short by its client's
cancel.

Distributed (:class:`RedisInputs`), the edge's input is copied item by item onto a Redis list
(:func:`~gosandbox.jobs.keys.stdin_key`) that the worker running the job pops in order: a list is first in, first
out, and its one writer (the connection's handler) pushes in the order the client sent. It holds at most what the
edge let through (``interactive_stdin_bytes`` in all, plus an end and a few signals), and it expires
:data:`STDIN_TTL_S` after its last push, so a run whose worker never came leaves nothing behind.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Protocol

import redis

from gosandbox.backends.live import EndOfInput, Item, LiveStdin
from gosandbox.jobs.keys import stdin_key
from gosandbox.jobs.redis_clients import sync_client

logger = logging.getLogger(__name__)

#: How long a claimed interactive job waits for its edge to hand over its input.
_HANDOVER_S = 10.0
#: A stdin list in Redis lives this long after its last push.
STDIN_TTL_S = 600
#: How often the threads moving input look whether their run ended.
_POLL_S = 0.5


class Inputs(Protocol):
    """Where the edge puts a job's live stdin and where its executor takes it."""

    def open(self, submission_id: str) -> LiveStdin: ...

    def take(self, submission_id: str) -> LiveStdin: ...

    def drop(self, submission_id: str) -> None: ...


class LiveInputs:
    """The live stdin of each interactive job this process runs, by submission id."""

    def __init__(self) -> None:
        self._inputs: dict[str, LiveStdin] = {}
        self._changed = threading.Condition()

    def open(self, submission_id: str) -> LiveStdin:
        """A new input for the job (its edge's side)."""
        live = LiveStdin()
        with self._changed:
            self._inputs[submission_id] = live
            self._changed.notify_all()
        return live

    def take(self, submission_id: str, timeout_s: float = _HANDOVER_S) -> LiveStdin:
        """The job's input (the executor's side); a closed one when its edge did not open one in time."""
        with self._changed:
            self._changed.wait_for(lambda: submission_id in self._inputs, timeout_s)
            live = self._inputs.get(submission_id)
        if live is None:
            live = LiveStdin()
            live.close()
        return live

    def drop(self, submission_id: str) -> None:
        """The job ended or its client left: forget its input."""
        with self._changed:
            self._inputs.pop(submission_id, None)


#: This process's interactive inputs: the edges and the executor of the embedded mode share them.
LIVE_INPUTS = LiveInputs()


def inputs_for(queue_url: str | None) -> Inputs:
    """This process's inputs: :data:`LIVE_INPUTS` embedded, one :class:`RedisInputs` per queue distributed."""
    return LIVE_INPUTS if queue_url is None else _redis_inputs(queue_url)


@functools.cache
def _redis_inputs(queue_url: str) -> RedisInputs:
    return RedisInputs.of(queue_url)


def encode(item: Item) -> bytes:
    """One list element: ``i`` and the bytes, ``e`` (end of input) or ``s`` and the signal's number."""
    if isinstance(item, bytes):
        return b"i" + item
    if isinstance(item, EndOfInput):
        return b"e"
    return b"s%d" % item.number


def decode(element: bytes, live: LiveStdin) -> None:
    """Give ``live`` what :func:`encode` made of an item."""
    kind, rest = element[:1], element[1:]
    if kind == b"i":
        live.send(rest)
    elif kind == b"e":
        live.close()
    elif kind == b"s":
        live.put_signal(int(rest))


class RedisInputs:
    """Interactive inputs across nodes: a thread per run moves its items to or from its Redis list."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, url: str) -> RedisInputs:
        return cls(sync_client(url))

    def open(self, submission_id: str) -> LiveStdin:
        """The edge's side: what is given to the returned input goes onto the job's list."""
        live = LiveStdin()
        self._start(submission_id, lambda stop: self._push(submission_id, live, stop))
        return live

    def take(self, submission_id: str) -> LiveStdin:
        """The worker's side: the job's list, popped into a local input as it fills."""
        live = LiveStdin()
        self._start(submission_id, lambda stop: self._pop(submission_id, live, stop))
        return live

    def drop(self, submission_id: str) -> None:
        with self._lock:
            stop = self._stops.pop(submission_id, None)
        if stop is not None:
            stop.set()

    def _start(self, submission_id: str, work: Callable[[threading.Event], None]) -> None:
        stop = threading.Event()
        with self._lock:
            self._stops[submission_id] = stop
        threading.Thread(target=self._guarded, args=(work, stop), name="live-stdin-redis", daemon=True).start()

    @staticmethod
    def _guarded(work: Callable[[threading.Event], None], stop: threading.Event) -> None:
        try:
            work(stop)
        except redis.RedisError as exc:  # the run goes on without the rest of its input; its client's end says why
            logger.warning("live stdin through Redis stopped: %s", exc)

    def _push(self, submission_id: str, live: LiveStdin, stop: threading.Event) -> None:
        key = stdin_key(submission_id)
        while not stop.is_set():
            item = live.take_any(_POLL_S)
            if item is not None:
                pipe = self.client.pipeline()
                pipe.rpush(key, encode(item))
                pipe.expire(key, STDIN_TTL_S)
                pipe.execute()

    def _pop(self, submission_id: str, live: LiveStdin, stop: threading.Event) -> None:
        key = stdin_key(submission_id)
        try:
            while not stop.is_set():
                popped = self.client.blpop([key], timeout=1)
                if popped is not None:
                    element = popped[1]
                    decode(element if isinstance(element, bytes) else element.encode(), live)
        finally:
            self.client.delete(key)

"""The HTTP edge under abuse: connection hygiene uvicorn does not do by itself.

uvicorn closes an idle keep-alive connection, but a client that sends half a request head (or a
body a byte at a time) holds its connection, and a file descriptor, forever; enough of them
exhaust the process. :func:`guarded_protocol` makes uvicorn's h11 protocol enforce:

- the request line and headers arrive within ``head_timeout_s`` of the connection (or of the
  first byte of the next request on a kept-alive one), else ``408`` and close;
- after that grace, a body arrives at ``body_min_bytes_per_s`` on average, else ``408`` and close;
- at most ``max_connections`` are open: one more gets a bare ``503`` and is closed at once, before
  any parsing, so refusing costs next to nothing.

Once a request is whole, no read deadline applies: the response may take as long as its job (a
run, a ``?wait=``, an event stream). But a client that does not read its answer cannot pin the
memory it fills (uvicorn hands a whole body to the transport, whose buffer grows without a bound):

- an answer whose client takes none of it for ``write_timeout_s`` (the transport's buffer does not
  shrink) is cut off: the connection is aborted and its buffer dropped (a write deadline);
- the answers waiting on their readers, all connections together, hold at most
  ``write_buffer_bytes``: beyond it, the connections that have waited longest are cut off first
  (the one whose answer just began to wait is not: a single answer above the budget still goes out).

It subclasses the h11 protocol of the pinned uvicorn (requirements.lock); the hooks used are its
``connection_made``, ``data_received``, ``connection_lost``, ``on_response_complete``,
``pause_writing`` and ``resume_writing``, and h11's ``their_state``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_FULL = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
#: How often a slow body's average rate is checked once its grace is over.
_BODY_CHECK_S = 1.0


@dataclass(frozen=True)
class EdgeLimits:
    head_timeout_s: float = 10.0
    body_min_bytes_per_s: int = 1024
    max_connections: int = 10_000
    write_timeout_s: float = 30.0
    write_buffer_bytes: int = 16 * 1024 * 1024


def guarded_protocol(limits: EdgeLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with :mod:`gosandbox.edge.guard`'s deadlines and connection cap."""

    class GuardedH11Protocol(_Guarded):
        edge_limits = limits
        stalled = _Stalled(limits.write_buffer_bytes)

    return GuardedH11Protocol


class _Stalled:
    """The connections whose answers wait on their readers (oldest first), their buffers within a budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._waiting: dict[_Guarded, None] = {}

    def add(self, connection: _Guarded) -> None:
        """``connection``'s answer waits on its reader: over the budget, older waiting ones are cut (not this one:
        one answer larger than the budget still goes out, within the write deadline)."""
        self._waiting[connection] = None
        total = sum(c.buffered() for c in self._waiting)
        for oldest in [c for c in self._waiting if c is not connection]:
            if total <= self.budget_bytes:
                break
            total -= oldest.buffered()
            oldest.cut(f"answers waiting on their readers hold over {self.budget_bytes // (1024 * 1024)} MiB")

    def remove(self, connection: _Guarded) -> None:
        self._waiting.pop(connection, None)


class _Guarded(H11Protocol):
    edge_limits: EdgeLimits
    stalled: _Stalled

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._body_started = 0.0
        self._body_bytes = 0
        self._write_check: asyncio.TimerHandle | None = None
        self._write_left = 0  # bytes buffered at the last check of a paused answer

    def pause_writing(self) -> None:
        """The answer's bytes wait in our buffer: its reader must take some within the write deadline."""
        super().pause_writing()
        self._write_left = self.buffered()
        self._arm_write_check()
        self.stalled.add(self)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._end_write_wait()

    def buffered(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    def cut(self, why: str) -> None:
        """Abort the connection (its buffered answer dropped): the client does not read it."""
        logger.info("connection cut: %s", why)
        self._end_write_wait()
        self.transport.abort()

    def _arm_write_check(self) -> None:
        if self._write_check is not None:
            self._write_check.cancel()
        self._write_check = self.loop.call_later(self.edge_limits.write_timeout_s, self._check_write)

    def _check_write(self) -> None:
        self._write_check = None
        left = self.buffered()
        if left and left >= self._write_left:
            self.cut(f"its client took none of its answer for {self.edge_limits.write_timeout_s:g} s")
            return
        self._write_left = left
        self._arm_write_check()

    def _end_write_wait(self) -> None:
        if self._write_check is not None:
            self._write_check.cancel()
            self._write_check = None
        self.stalled.remove(self)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.edge_limits.max_connections:
            self._refused = True
            transport.write(_FULL)
            transport.close()
            return
        super().connection_made(transport)
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._clear_deadline()
        self._end_write_wait()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self.conn.their_state
        super().data_received(data)
        after = self.conn.their_state
        if after is h11.SEND_BODY:
            self._body_bytes += len(data)
        if before is after:
            if after is h11.IDLE and self._deadline is None:
                self._expect_head()  # the first bytes of a kept-alive connection's next request
            return
        if after is h11.SEND_BODY:
            self._expect_body()
        elif after is not h11.IDLE:
            self._clear_deadline()  # the request is whole: the response takes what its job takes

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer for an idle connection
        self._clear_deadline()

    def _expect_head(self) -> None:
        self._set_deadline(self.edge_limits.head_timeout_s, self._head_timed_out)

    def _expect_body(self) -> None:
        self._body_started, self._body_bytes = time.monotonic(), 0
        if self.edge_limits.body_min_bytes_per_s:
            self._set_deadline(self.edge_limits.head_timeout_s, self._check_body_rate)

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._close_timed_out()

    def _check_body_rate(self) -> None:
        self._deadline = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        if self.flow.read_paused:  # we stopped reading (the app has not taken what came): not the client's fault
            self._body_started, self._body_bytes = time.monotonic(), 0
            self._set_deadline(self.edge_limits.head_timeout_s, self._check_body_rate)
            return
        elapsed = time.monotonic() - self._body_started
        if self._body_bytes < self.edge_limits.body_min_bytes_per_s * elapsed:
            self._close_timed_out()
        else:
            self._set_deadline(_BODY_CHECK_S, self._check_body_rate)

    def _close_timed_out(self) -> None:
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_TIMED_OUT)
        self.transport.close()

    def _set_deadline(self, delay_s: float, callback: Any) -> None:
        self._clear_deadline()
        self._deadline = self.loop.call_later(delay_s, callback)

    def _clear_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

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
run, a ``?wait=``, an event stream). It subclasses the h11 protocol of the pinned uvicorn
(requirements.lock); the hooks used are its ``connection_made``, ``data_received``,
``connection_lost`` and ``on_response_complete``, and h11's ``their_state``.
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


def guarded_protocol(limits: EdgeLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with :mod:`gosandbox.edge.guard`'s deadlines and connection cap."""

    class GuardedH11Protocol(_Guarded):
        edge_limits = limits

    return GuardedH11Protocol


class _Guarded(H11Protocol):
    edge_limits: EdgeLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._body_started = 0.0
        self._body_bytes = 0

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

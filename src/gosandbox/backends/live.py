"""Live stdin: input that reaches a running program as it comes, its end, and signals to the program.

An interactive run carries a :class:`LiveStdin` in its :class:`~gosandbox.backends.base.ExecJob`. Its caller (a
WebSocket, the CLI's terminal, a worker reading Redis) calls :meth:`LiveStdin.send`, :meth:`LiveStdin.close` and
:meth:`LiveStdin.signal` from any thread; the backend's feeder (:func:`feed`) passes them to its :class:`StdinSink`:
a pipe to the program under oci+runc, the supervisor's channel otherwise. Input and its end go in the order sent;
a signal goes at once, by a thread of its own, as a terminal's Ctrl-C does: a program that does not read (its
pipe full, the input waiting) can still be interrupted.

Bounds: the caller caps the bytes it sends (the API's ``interactive_stdin_bytes``); the queue holds at most that,
and the feeder writes to the program only as fast as the program reads (a pipe's own backpressure).
"""

from __future__ import annotations

import os
import queue
import signal as signals
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: The signals a client may send a running program, by name.
SIGNALS: dict[str, int] = {"SIGINT": signals.SIGINT, "SIGTERM": signals.SIGTERM, "SIGKILL": signals.SIGKILL}
#: How often the feeder looks whether the run ended while no input comes.
_POLL_S = 0.05


@dataclass(frozen=True)
class EndOfInput:
    """The program's stdin is closed after what was sent before."""


@dataclass(frozen=True)
class Signal:
    number: int


Item = bytes | EndOfInput | Signal


def signal_number(name: str) -> int:
    """The number of a signal a client may send ("SIGINT", "INT", "sigint"); ValueError names the ones allowed."""
    upper = name.upper()
    number = SIGNALS.get(upper) or SIGNALS.get("SIG" + upper)
    if number is None:
        raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, not {name[:20]!r}")
    return number


class LiveStdin:
    """A thread-safe source of a running program's stdin and signals, in the order they were given."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[bytes | EndOfInput] = queue.SimpleQueue()
        self._signals: queue.SimpleQueue[Signal] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.sent_bytes = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes) -> None:
        """Bytes for the program's stdin; after :meth:`close` they are dropped (its stdin is closed)."""
        with self._lock:
            if self._closed or not data:
                return
            self.sent_bytes += len(data)
            self._items.put(bytes(data))

    def close(self) -> None:
        """End of input: the program reads EOF after what was sent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._items.put(EndOfInput())

    def signal(self, name: str) -> None:
        """Send the program SIGINT, SIGTERM or SIGKILL (ValueError for any other)."""
        self._signals.put(Signal(signal_number(name)))

    def put_signal(self, number: int) -> None:
        """A signal by its number (one of :data:`SIGNALS`'), as it crossed from another node."""
        if number not in SIGNALS.values():
            raise ValueError(f"signal {number} is not one a client may send")
        self._signals.put(Signal(number))

    def take(self, timeout_s: float) -> bytes | EndOfInput | None:
        """The next input or its end, or None when none came within ``timeout_s`` (the backend's side)."""
        try:
            return self._items.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def take_any(self, timeout_s: float) -> Item | None:
        """For a relay (to another node): a waiting signal first, else the next input or its end, else None."""
        return self.take_signal(0) or self.take(timeout_s)

    def take_signal(self, timeout_s: float) -> Signal | None:
        """The next signal, or None when none came within ``timeout_s`` (the backend's side)."""
        try:
            return self._signals.get(timeout=timeout_s)
        except queue.Empty:
            return None


class StdinSink(Protocol):
    """Where a backend puts a live run's input."""

    def write(self, data: bytes) -> None: ...

    def end(self) -> None: ...

    def signal(self, number: int) -> None: ...


def feed(live: LiveStdin, sink: StdinSink, finished: threading.Event) -> list[threading.Thread]:
    """Start the threads passing ``live``'s input and its signals to ``sink`` until the run has ``finished``."""
    threads = [threading.Thread(target=serve, args=(live, sink, finished), name=name, daemon=True)
               for serve, name in ((_pass_input, "live-stdin"), (_pass_signals, "live-signals"))]  # fmt: skip
    for thread in threads:
        thread.start()
    return threads


def _pass_input(live: LiveStdin, sink: StdinSink, finished: threading.Event) -> None:
    while not finished.is_set():
        item = live.take(_POLL_S)
        try:
            if isinstance(item, bytes):
                sink.write(item)
            elif isinstance(item, EndOfInput):
                sink.end()
        except OSError:  # the program closed its stdin or ended: the rest of its input goes nowhere
            continue


def _pass_signals(live: LiveStdin, sink: StdinSink, finished: threading.Event) -> None:
    while not finished.is_set():
        item = live.take_signal(_POLL_S)
        try:
            if item is not None:
                sink.signal(item.number)
        except OSError:  # the program ended
            continue


class PipeStdin:
    """A live run's input into the write end of the program's stdin pipe; signals through ``send_signal``."""

    def __init__(self, write_fd: int, send_signal: Callable[[int], None]) -> None:
        self._fd: int | None = write_fd
        self._send_signal = send_signal
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            fd = self._fd
            if fd is None:
                return
            view = view[os.write(fd, view) :]

    def end(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def signal(self, number: int) -> None:
        self._send_signal(number)

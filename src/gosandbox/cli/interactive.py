"""``gosandbox run --interactive``: our terminal attached to the running program, on this host or a server.

What is typed goes to the program as the terminal hands it over (a line at a time: the terminal's own line editing
and echo), Ctrl-D at the start of a line closes the program's stdin, and Ctrl-C sends it SIGINT (it may handle it;
Go's default ends it). The run itself happens in a thread of its own; this thread waits and forwards Ctrl-C.
Both places take the input through a :class:`~gosandbox.backends.live.LiveStdin`: this host's backend reads it
directly, a server gets it over ``/runs/interactive`` (:func:`pump_to_server`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import IO, TypeVar

from gosandbox.backends.live import EndOfInput, LiveStdin, Signal
from gosandbox.client.interactive import InteractiveRun

T = TypeVar("T")

_READ_BYTES = 4096
_WAIT_S = 0.1
_SIGNAL_NAMES = {2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM"}


def read_terminal(live: LiveStdin, source: IO[bytes]) -> threading.Thread:
    """A thread passing what ``source`` gives (our stdin) to ``live`` as it comes; its end closes the program's."""

    def pump() -> None:
        descriptor = source.fileno()
        while True:
            try:
                data = os.read(descriptor, _READ_BYTES)
            except OSError:
                data = b""
            if not data:
                live.close()
                return
            live.send(data)

    thread = threading.Thread(target=pump, name="terminal-stdin", daemon=True)
    thread.start()
    return thread


def run_attached(work: Callable[[], T], live: LiveStdin) -> T:
    """``work()`` in a thread while this one forwards each Ctrl-C to the program as SIGINT; its value."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="interactive-run", daemon=True)
    thread.start()
    while thread.is_alive():
        try:
            thread.join(_WAIT_S)
        except KeyboardInterrupt:
            live.signal("SIGINT")
    if failure:
        raise failure[0]
    return outcome[0]


def pump_to_server(live: LiveStdin, run: InteractiveRun, finished: threading.Event) -> threading.Thread:
    """A thread sending ``live``'s input to a server's interactive run until ``finished``."""

    def pump() -> None:
        while not finished.is_set():
            item = live.take(_WAIT_S)
            try:
                if isinstance(item, bytes):
                    run.send(item)
                elif isinstance(item, EndOfInput):
                    run.close_stdin()
                elif isinstance(item, Signal):
                    run.signal(_SIGNAL_NAMES[item.number])
            except Exception:  # the connection is over: the run's end says why
                return

    thread = threading.Thread(target=pump, name="interactive-pump", daemon=True)
    thread.start()
    return thread

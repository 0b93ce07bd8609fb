"""Where ``run``, ``test``, ``vet`` and ``fmt`` run: on this host, or on a running server.

:class:`Tools` is the seam between the commands and the two places. :mod:`gosandbox.cli.local` runs on this
host's backend, the one ``gosandbox serve`` would use (assembled by :mod:`gosandbox.wiring`), with a warm
builder kept between invocations; :mod:`gosandbox.cli.remote` sends each command to a server through
:class:`gosandbox.Client`. Both report the compiler's messages and the program's output as they come
(:class:`Live`) and return the library's result classes, so the commands print the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gosandbox.backends.live import LiveStdin
from gosandbox.gotest import TestOptions
from gosandbox.models import FmtResult, RunResult, TestResult, VetResult


@dataclass(frozen=True)
class Request:
    """A command's package and what the command line asked for beyond it."""

    files: dict[str, str]
    stdin: bytes = b""
    args: tuple[str, ...] = ()
    #: limit overrides (``wall_s``, ``memory_mb``, ...); whoever runs it holds them to its own caps
    limits: dict[str, float | int] = field(default_factory=dict)
    #: a toolchain the runner has; None: its default
    go_version: str | None = None
    #: built with the race detector (``--race``)
    race: bool = False
    #: an interactive run's stdin as it comes (``--interactive``); ``stdin`` is then unused
    live: LiveStdin | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Live:
    """Who hears a command as it happens: the compiler's messages, then each chunk of the program's output."""

    compiled: Callable[[str], None]
    #: (``"stdout"`` or ``"stderr"``, the bytes as written)
    output: Callable[[str, bytes], None]


class Tools(Protocol):
    """Runs the four commands somewhere; a service failure is raised (a ``GosandboxError``), a program's is data."""

    def run(self, request: Request, live: Live) -> RunResult: ...

    def test(self, request: Request, options: TestOptions, live: Live) -> TestResult: ...

    def vet(self, request: Request) -> VetResult: ...

    def fmt(self, request: Request) -> FmtResult: ...

"""The backend protocol: compile in a builder sandbox, execute in a fresh one-shot sandbox.

A backend reports raw facts (exit code, signal, who killed the program and why); the
runner turns those facts into a verdict. Backends raise only
:class:`gosandbox.errors.BackendUnavailable` and its subclasses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gosandbox.backends.live import LiveStdin
from gosandbox.limits import Limits
from gosandbox.toolchain import Tool


@dataclass(frozen=True)
class BuildJob:
    """Run a toolchain step (see :class:`Tool`) on the package in ``files`` (go.mod included)."""

    files: dict[str, str]
    timeout_s: float
    tool: Tool = Tool.BUILD
    cover: bool = False
    fuzz: str | None = None  # Tool.TEST: the fuzz target pattern to instrument for
    go_version: str | None = None  # None: the backend's default toolchain
    assembly: bool = True  # Tool.EXPLAIN: list the assembly too
    #: Whose build (an API key's name; "" the keyless tenant): the submission's own compiles are cached per tenant.
    tenant: str = ""
    race: bool = False  # Tool.BUILD, Tool.TEST: with the race detector, in the race builder


@dataclass(frozen=True)
class BuildOutcome:
    succeeded: bool
    output: str
    binary: bytes | None
    duration_s: float
    #: the package after Tool.FMT; the compiler's -json records (path under their directory -> text) after EXPLAIN
    files: dict[str, str] | None = None


#: Receives the program's output as it is written: ("stdout" | "stderr", bytes kept within the cap).
OutputSink = Callable[[str, bytes], None]


@dataclass(frozen=True)
class Observers:
    """Who watches a run as it happens: the build's end, and each chunk of output as it is written; and for an
    interactive run, who talks back: its stdin as it comes (``live``)."""

    on_compiled: Callable[[BuildOutcome], None] | None = None
    on_output: OutputSink | None = None
    live: LiveStdin | None = None


@dataclass(frozen=True)
class ExecJob:
    """Run ``binary`` once in a fresh sandbox; ``cancel`` set means: stop now, the caller left."""

    binary: bytes
    stdin: bytes
    args: tuple[str, ...]
    limits: Limits
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    #: Package files the program reads at run time (a test's testdata/), placed read-only in its working directory.
    package_files: dict[str, str] = field(default_factory=dict)
    #: Called from the backend's reader thread for each chunk it keeps, in the order written.
    on_output: OutputSink | None = field(default=None, compare=False)
    #: An interactive run's stdin, as it comes (``stdin`` is then empty): see :mod:`gosandbox.backends.live`.
    live: LiveStdin | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ExecOutcome:
    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    duration_s: float
    timed_out: bool = False
    oom_killed: bool = False
    output_exceeded: bool = False
    cancelled: bool = False
    #: the pids limit refused a fork or a new thread
    pids_limit_hit: bool = False
    #: the program was stopped at its CPU-time limit (``limits.cpu_ms``)
    cpu_limit_hit: bool = False
    #: CPU time (user + system) of the sandbox while the program ran; None where the backend cannot tell
    cpu_time_ms: int | None = None
    #: the sandbox's peak memory use in KiB; None where the backend cannot tell
    peak_memory_kb: int | None = None


class Backend(Protocol):
    """Where programs are compiled and run. ``FakeBackend`` and ``DockerBackend`` implement it."""

    @property
    def go_version(self) -> str:
        """The default toolchain."""

    @property
    def go_versions(self) -> list[str]:
        """Every toolchain a BuildJob may name, the default first."""

    @property
    def build_identity(self) -> str:
        """Everything besides the files that shapes a binary (images, flags): part of the binary cache key."""

    def start(self) -> None:
        """Get ready to serve (idempotent): remove what a crashed predecessor left, pre-start sandboxes."""

    def build(self, job: BuildJob) -> BuildOutcome: ...

    def execute(self, job: ExecJob) -> ExecOutcome: ...

    def check_ready(self) -> None:
        """Raise :class:`BackendUnavailable` with a hint when runs cannot succeed now."""

    def close(self) -> None:
        """Remove every sandbox this backend created."""


@runtime_checkable
class SeriesBackend(Protocol):
    """A backend that runs one program on many inputs faster than a sandbox each (the judge's cases)."""

    def execute_series(self, jobs: Sequence[ExecJob]) -> Outcomes:
        """Each job's outcome in order, each run as afresh as by :meth:`Backend.execute`; ``close()`` to stop."""


#: Runs' outcomes as they end; closing it ends the runs not yet made (and a series' sandbox).
Outcomes = Generator[ExecOutcome, None, None]


def execute_each(backend: Backend, jobs: Sequence[ExecJob]) -> Outcomes:
    """Each job's outcome in order: in a series where the backend has one, else one sandbox each."""
    if isinstance(backend, SeriesBackend):
        return backend.execute_series(jobs)
    return (backend.execute(job) for job in jobs)

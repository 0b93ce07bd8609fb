"""What goes into a run and what comes out of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gosandbox.diagnostics import Diagnostic
from gosandbox.gotest import Benchmark, TestCase
from gosandbox.limits import Limits
from gosandbox.race import Race


class Status(StrEnum):
    """The verdict on a program. Every value is data, never a service error."""

    OK = "ok"
    COMPILE_ERROR = "compile_error"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"


@dataclass(frozen=True)
class RunSpec:
    """A validated request: the files of one Go main package, its input and its limits.

    Build specs with :func:`gosandbox.source.make_spec`, which checks file names and sizes.
    """

    files: dict[str, str]
    stdin: bytes = b""
    args: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    go_version: str | None = None  # a toolchain the backend offers; None: its default
    race: bool = False  # built with the race detector (the pinned toolchain's race builder)


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent compiling, running, and in total (including queueing and hand-over)."""

    compile: int
    run: int
    total: int


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run.

    ``stdout``/``stderr`` are the program's bytes decoded as UTF-8, each invalid byte replaced
    by U+FFFD; NUL and control characters are kept (JSON escapes them).
    """

    status: Status
    exit_code: int | None
    signal: str | None
    stdout: str
    stderr: str
    compile_output: str
    truncated: bool
    timings_ms: Timings
    go_version: str
    cached: bool = False
    #: compile errors as positions, beside the raw ``compile_output``
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: the request had no body, so the server's default program ran (the origin's behaviour)
    default_program: bool = False
    #: CPU time (user + system) the sandbox spent running the program; None when it never ran or is unknown
    cpu_time_ms: int | None = None
    #: the sandbox's peak memory use (what the memory limit is measured against); None as for ``cpu_time_ms``
    peak_memory_kb: int | None = None
    #: one plain sentence saying why the verdict is not ``ok``, e.g. "exited with code 3"; None when ok
    message: str | None = None
    #: the data races the race detector reported (a ``race`` run; None: the run was not built for it)
    races: list[Race] | None = None


@dataclass(frozen=True)
class TestResult:
    """The outcome of ``go test`` on a package: per-test results and the verdict on the test binary."""

    __test__ = False  # not a pytest test class

    status: Status
    passed: bool
    tests: list[TestCase]
    benchmarks: list[Benchmark]
    coverage_percent: float | None
    output: str  # package-level output (not inside any test)
    stderr: str
    compile_output: str
    diagnostics: list[Diagnostic]
    truncated: bool
    timings_ms: Timings
    go_version: str
    #: the data races the race detector reported, each with its test (``race``; None: not built for it)
    races: list[Race] | None = None


@dataclass(frozen=True)
class VetResult:
    """``go vet`` findings; ``status`` is compile_error when the package does not type-check."""

    status: Status
    diagnostics: list[Diagnostic]
    output: str
    timings_ms: Timings
    go_version: str


@dataclass(frozen=True)
class FmtResult:
    """gofmt'd .go files and a normalised go.mod; ``diagnostics`` holds syntax errors."""

    ok: bool
    files: dict[str, str]
    changed: list[str]
    diagnostics: list[Diagnostic]
    output: str
    go_version: str

"""The structured results of the MCP tools (their ``outputSchema``), built from the job results the HTTP API returns.

Field names follow the HTTP API where they mean the same thing (``status``, ``diagnostics``,
``timings_ms``); where a tool returns something the API spells differently, the name says what it
holds for a model reading it (``findings`` of vet, ``syntax_errors`` of gofmt, ``status`` of a test).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import BaseModel, ConfigDict, Field

from gosandbox.models import Status
from gosandbox.race import Race

# --- arguments ----------------------------------------------------------------------------------
# Loose shapes for the SDK to check and document; the tools hand them on as the HTTP API's JSON
# bodies, so the same parsing decides (one source, file names and sizes, limits within the caps).


class LimitsArgs(BaseModel):
    """Per-call limits; each must lie between the server's minimum and its cap (list_toolchains shows both)."""

    model_config = ConfigDict(extra="forbid")

    wall_s: float | None = Field(None, description="wall-clock seconds before the program is killed (verdict timeout)")
    memory_mb: int | None = Field(None, description="memory in MiB, swap off (verdict memory_limit)")
    cpus: float | None = Field(None, description="CPU quota in cores")
    pids: int | None = Field(None, description="most processes and threads at once")
    output_bytes: int | None = Field(None, description="stdout+stderr bytes kept; past it the program is stopped")
    cpu_ms: int | None = Field(None, description="CPU time of the program in ms (verdict timeout past it)")


class SourceArgs(ArgModelBase):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, description="the source of main.go (package main); or send files")
    files: dict[str, str] | None = Field(
        None,
        description="file name -> content, relative to the package root, e.g. {'main.go': ..., 'go.mod': ...}; "
        "subdirectories, testdata/ and embedded files allowed",
    )
    txtar: str | None = Field(None, description="the files as one txtar archive ('-- name --' starts each file)")
    go_version: str | None = Field(None, description="a toolchain from list_toolchains (default: its first)")


_RACE_ARG = (
    "build with Go's race detector: use it to check concurrent code (goroutines sharing variables) for data races; "
    "each race comes back in races with both accesses' lines. Slower to build, 5-10x the memory; no cgo"
)


class RunArgs(SourceArgs):
    stdin: str | None = Field(None, description="standard input of the program (UTF-8)")
    args: list[str] | None = Field(None, description="command-line arguments after the program name")
    limits: LimitsArgs | None = None
    race: bool | None = Field(None, description=_RACE_ARG)


class TestArgs(SourceArgs):
    __test__ = False  # not a pytest test class

    run: str | None = Field(None, description="go test -run: regular expression selecting tests")
    count: int | None = Field(None, description="go test -count (default 1: no cached results)")
    cover: bool | None = Field(None, description="report statement coverage (coverage_percent)")
    short: bool | None = Field(None, description="go test -short")
    bench: str | None = Field(None, description="go test -bench: regular expression selecting benchmarks")
    benchtime: str | None = Field(None, description="go test -benchtime, e.g. 100x or 500ms (default 1s)")
    limits: LimitsArgs | None = None
    race: bool | None = Field(None, description=_RACE_ARG + " (a race fails the test it ran in)")


# --- results ------------------------------------------------------------------------------------


class Position(BaseModel):
    """A message at a place in the sources: a compile error, a vet finding, a syntax error."""

    file: str = Field(description="file name as sent, relative to the package root")
    line: int
    column: int = Field(description="1-based; 0 when the tool gave none")
    message: str
    analyzer: str | None = Field(None, description="the vet analyzer that reported it (vet only)")


class Timings(BaseModel):
    compile: int = Field(description="milliseconds compiling (0 on a cache hit)")
    run: int = Field(description="milliseconds the program or the tests ran")
    total: int = Field(description="milliseconds from the call to its result")


_STATUS = (
    "verdict: ok, compile_error, runtime_error (non-zero exit or panic), timeout (wall_s passed), "
    "memory_limit (memory_mb passed), output_limit (output_bytes passed)"
)


_RACES = (
    "with race: each data race found, its two accesses (kind read or write, goroutine, frames of function, file "
    "and line; the first frame in your files is where it happened) and where their goroutines were created; "
    "null without race"
)


class RunOutput(BaseModel):
    """What ``run_go`` returns: the verdict, the program's output, and compile errors as positions."""

    status: Status = Field(description=_STATUS)
    exit_code: int | None = Field(
        description="the program's exit code (128+N when killed by signal N); null if it never ran"
    )
    signal: str | None = Field(description="the signal that ended the program, e.g. SIGKILL")
    stdout: str = Field(description="UTF-8; invalid bytes become U+FFFD")
    stderr: str = Field(description="the program's stderr (panics and their stack traces land here)")
    diagnostics: list[Position] = Field(description="compile errors with file, line, column and message")
    compile_output: str = Field(description="the compiler's own text")
    truncated: bool = Field(description="stdout+stderr passed output_bytes and were cut")
    timings_ms: Timings
    go_version: str
    cached: bool = Field(description="the binary came from the build cache")
    cpu_time_ms: int | None = Field(None, description="CPU time (user+system) of the program; null if it never ran")
    peak_memory_kb: int | None = Field(None, description="the sandbox's peak memory in KiB; null if it never ran")
    message: str | None = Field(None, description="why the verdict is not ok, in one plain sentence; null when ok")
    races: list[Race] | None = Field(None, description=_RACES)


class TestCaseOut(BaseModel):
    __test__ = False  # not a pytest test class

    name: str = Field(description="e.g. TestAdd or TestAdd/negative")
    status: str = Field(description="pass, fail, skip; running if the test binary died inside it")
    elapsed_s: float
    output: str = Field(description="what the test logged (t.Log, t.Error, its panics)")
    package: str


class BenchmarkOut(BaseModel):
    name: str
    iterations: int
    ns_per_op: float
    extra: str = Field(description="further columns, e.g. B/op and allocs/op")


class TestOutput(BaseModel):
    """What ``test_go`` returns: one entry per test and subtest, coverage, and build errors as positions."""

    __test__ = False  # not a pytest test class

    passed: bool = Field(description="the package built and every test passed")
    status: Status = Field(description=_STATUS + "; of the test binary as a whole")
    tests: list[TestCaseOut]
    benchmarks: list[BenchmarkOut]
    coverage_percent: float | None = Field(description="statement coverage when cover was asked for")
    diagnostics: list[Position] = Field(description="build errors (of the package or its tests) as positions")
    compile_output: str
    output: str = Field(description="package-level output, outside any test")
    stderr: str
    truncated: bool
    timings_ms: Timings
    go_version: str
    races: list[Race] | None = Field(None, description=_RACES + "; each names its test")


class VetOutput(BaseModel):
    """What ``vet_go`` returns: go vet's findings with positions and analyzer names."""

    status: Status = Field(
        description="ok, or compile_error when the package does not type-check (findings then hold the type errors)"
    )
    findings: list[Position] = Field(description="empty when vet found nothing")
    output: str = Field(description="vet's own text")
    timings_ms: Timings
    go_version: str


class FormatOutput(BaseModel):
    """What ``format_go`` returns: each file gofmt'd, which ones changed, and syntax errors as positions."""

    ok: bool = Field(description="every file parsed (false: see syntax_errors; files are then returned unchanged)")
    files: dict[str, str] = Field(description="file name -> formatted content, for the files sent")
    changed: list[str] = Field(description="names of the files that formatting changed")
    syntax_errors: list[Position]
    go_version: str


class LimitValues(BaseModel):
    wall_s: float
    memory_mb: int
    cpus: float
    pids: int
    output_bytes: int


class ToolchainsOutput(BaseModel):
    """What ``list_toolchains`` returns: the Go versions a call may name, and the limits a call may ask for."""

    go_versions: list[str] = Field(description="values go_version accepts; the first is the default")
    default: str | None = Field(description="the toolchain used when go_version is left out")
    default_limits: LimitValues = Field(description="the limits of a call that sets none")
    max_limits: LimitValues = Field(description="the most a call may ask for; above it the call is refused")


def run_output(result: dict[str, Any]) -> RunOutput:
    return RunOutput.model_validate(result)


def test_output(result: dict[str, Any]) -> TestOutput:
    tests = [{**case, "status": case["result"]} for case in result["tests"]]
    return TestOutput.model_validate({**result, "tests": tests})


def vet_output(result: dict[str, Any]) -> VetOutput:
    return VetOutput.model_validate({**result, "findings": result["diagnostics"]})


def format_output(result: dict[str, Any]) -> FormatOutput:
    return FormatOutput.model_validate({**result, "syntax_errors": result["diagnostics"]})

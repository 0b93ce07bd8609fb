"""Request and response bodies of the HTTP API (they are the contract clients rely on)."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gosandbox.diagnostics import Diagnostic
from gosandbox.edge.problems import PROBLEM_JSON
from gosandbox.gotest import TestOptions
from gosandbox.models import Status
from gosandbox.race import Race
from gosandbox.txtar import parse_txtar


class LimitsIn(BaseModel):
    """Per-run limits; each must lie between the server's minimum and its cap."""

    model_config = ConfigDict(extra="forbid", strict=True)

    wall_s: float | None = Field(None, description="wall-clock seconds before the sandbox is killed")
    memory_mb: int | None = Field(None, description="memory in MiB (swap is disabled)")
    cpus: float | None = Field(None, description="CPU quota in cores")
    pids: int | None = Field(None, description="most processes and threads at once")
    output_bytes: int | None = Field(None, description="stdout+stderr bytes kept; past it the program is stopped")
    cpu_ms: int | None = Field(
        None, description="CPU time (user+system) of all the program's processes, in ms; past it: verdict timeout"
    )

    def overrides(self) -> dict[str, float | int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class SourceRequest(BaseModel):
    """A Go package: exactly one of ``code`` (main.go), ``files`` or ``txtar`` (the Playground's archive)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str | None = Field(None, description="the source of main.go")
    files: dict[str, str] | None = Field(
        None, description="file name -> content, relative to the package root (subdirectories, testdata/, embeds)"
    )
    txtar: str | None = Field(None, description="a txtar archive: '-- name --' lines start each file")
    go_version: str | None = Field(None, description="a toolchain from GET /version's go_versions (default: the first)")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if sum(value is not None for value in (self.code, self.files, self.txtar)) != 1:
            raise ValueError("send exactly one of 'code', 'files' and 'txtar'")
        return self

    def file_map(self) -> dict[str, str]:
        if self.code is not None:
            return {"main.go": self.code}
        if self.txtar is not None:
            return parse_txtar(self.txtar)
        return dict(self.files or {})


_RACE = (
    "build with the race detector (-race): data races come back in 'races', and a program that had one exits 66 "
    '(runtime_error). Go code only: import "C" and #cgo or //go:cgo_ directives are refused (422). The race '
    "runtime's memory counts against memory_mb (it takes 5-10 times a program's own)"
)


class RunRequest(SourceRequest):
    """What to run, with its input and limits."""

    stdin: str = Field("", description="standard input of the program (UTF-8)")
    args: list[str] = Field(default_factory=list, description="command-line arguments after the program name")
    limits: LimitsIn | None = None
    race: bool = Field(False, description=_RACE)


class TestRequest(SourceRequest):
    """``go test`` of the package; the options are those of ``go test`` (durations bounded by ``wall_s``)."""

    __test__ = False  # not a pytest test class

    limits: LimitsIn | None = None
    race: bool = Field(False, description=_RACE)
    run: str | None = Field(None, description="-run: regular expression selecting tests")
    count: int = Field(1, description="-count")
    cover: bool = Field(False, description="-cover: report the statement coverage percentage")
    short: bool = Field(False, description="-short")
    bench: str | None = Field(None, description="-bench: regular expression selecting benchmarks")
    benchtime: str = Field("1s", description="-benchtime, e.g. 100x or 500ms")
    fuzz: str | None = Field(None, description="-fuzz: the fuzz target to run")
    fuzztime: str = Field("5s", description="-fuzztime")

    def options(self) -> TestOptions:
        return TestOptions(
            self.run, self.count, self.cover, self.bench, self.benchtime, self.fuzz, self.fuzztime, self.short
        )


_CALLBACK = Field(None, description="POST the final submission here (host in GOSANDBOX_CALLBACK_HOSTS)")


class SubmissionHead(BaseModel):
    """The fields of a submission that decide how the rest of its body is read."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["run", "test", "vet", "fmt", "judge"] = Field("run", description="which endpoint's body this is")
    callback_url: str | None = _CALLBACK


class RunSubmission(RunRequest):
    """A job running a program: a /run body, plus ``kind`` and ``callback_url``."""

    kind: Literal["run"] = "run"
    callback_url: str | None = _CALLBACK


class TestSubmission(TestRequest):
    """A job testing a package: a /test body, plus ``kind`` and ``callback_url``."""

    __test__ = False  # not a pytest test class

    kind: Literal["test"]
    callback_url: str | None = _CALLBACK


class VetSubmission(SourceRequest):
    kind: Literal["vet"]
    callback_url: str | None = _CALLBACK


class FmtSubmission(SourceRequest):
    kind: Literal["fmt"]
    callback_url: str | None = _CALLBACK


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    submissions: list[dict[str, Any]] = Field(description="at most 100 submission bodies", max_length=100,
                                              min_length=1)  # fmt: skip


class SubmissionOut(BaseModel):
    """A job: its state (queued, running, done, failed, cancelled) and, once done, the endpoint's result."""

    id: str
    kind: Literal["run", "test", "vet", "fmt", "explain", "judge"]  # explain: POST /explain's (not submittable here)
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    result: dict[str, Any] | None = Field(description="what the synchronous endpoint returns (state done)")
    error: dict[str, Any] | None = Field(description="a problem document when the service failed (state failed)")
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    attempts: int
    worker: str | None
    go_version: str | None
    callback_url: str | None
    callback: dict[str, Any] | None = Field(description="the callback's delivery outcome")
    api_key_name: str | None = Field(None, description="the name of the API key that submitted it (never the key)")


class SubmissionList(BaseModel):
    submissions: list[SubmissionOut]


class BatchOut(BaseModel):
    ids: list[str]


class TimingsOut(BaseModel):
    compile: int = Field(description="milliseconds compiling (0 on a cache hit)")
    run: int = Field(description="milliseconds the program ran")
    total: int = Field(description="milliseconds from request to result")


class RunResponse(BaseModel):
    """The verdict. Program failures are data here; they are never HTTP errors."""

    status: Status
    exit_code: int | None = Field(description="the program's exit code (128+N when killed by signal N)")
    signal: str | None = Field(description="the signal that ended the program, e.g. SIGKILL")
    stdout: str = Field(description="UTF-8; invalid bytes become U+FFFD")
    stderr: str
    compile_output: str
    truncated: bool = Field(description="output passed output_bytes and was cut")
    timings_ms: TimingsOut
    go_version: str
    cached: bool = Field(description="the binary came from the build cache")
    default_program: bool = Field(False, description="the request had no body: the server's default program ran")
    diagnostics: list[Diagnostic] = Field(description="compile errors as file/line/column/message")
    cpu_time_ms: int | None = Field(None, description="CPU time (user+system) of the program; null if it never ran")
    peak_memory_kb: int | None = Field(None, description="the sandbox's peak memory in KiB; null if it never ran")
    message: str | None = Field(None, description="why the verdict is not ok, in one plain sentence; null when ok")
    races: list[Race] | None = Field(
        None, description="the data races the race detector reported (a race run); null when not built for it"
    )


class Problem(BaseModel):
    """A service error (RFC 9457), served as ``application/problem+json``."""

    type: str = Field(description="urn:gosandbox:problem:<slug>")
    title: str
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong and what to do about it")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of service errors: each a :class:`Problem` document."""
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"content": content} for status in statuses}


def request_body(model: str, *, required: bool) -> dict[str, Any]:
    """OpenAPI declaration of a body that is JSON (``model``) or text/plain (main.go, or a txtar archive)."""
    empty = "" if required else ", or no body to run the default program"
    return {
        "requestBody": {
            "required": required,
            "description": f"JSON ({model}), or text/plain holding main.go or a txtar archive{empty}",
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    }

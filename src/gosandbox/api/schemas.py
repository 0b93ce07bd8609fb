"""Request and response bodies of the HTTP API (they are the contract clients rely on)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gosandbox.api.problems import PROBLEM_JSON
from gosandbox.models import Status


class LimitsIn(BaseModel):
    """Per-run limits; each must lie between the server's minimum and its cap."""

    model_config = ConfigDict(extra="forbid", strict=True)

    wall_s: float | None = Field(None, description="wall-clock seconds before the sandbox is killed")
    memory_mb: int | None = Field(None, description="memory in MiB (swap is disabled)")
    cpus: float | None = Field(None, description="CPU quota in cores")
    pids: int | None = Field(None, description="most processes and threads at once")
    output_bytes: int | None = Field(None, description="stdout+stderr bytes kept; past it the program is stopped")

    def overrides(self) -> dict[str, float | int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class RunRequest(BaseModel):
    """Send ``code`` (one main.go) or ``files`` (a package: *.go, go.mod, go.sum), not both."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str | None = Field(None, description="the source of main.go")
    files: dict[str, str] | None = Field(None, description="file name -> content, relative to the package root")
    stdin: str = Field("", description="standard input of the program (UTF-8)")
    args: list[str] = Field(default_factory=list, description="command-line arguments after the program name")
    limits: LimitsIn | None = None

    @model_validator(mode="after")
    def _code_or_files(self) -> Self:
        if (self.code is None) == (self.files is None):
            raise ValueError("send exactly one of 'code' and 'files'")
        return self

    def file_map(self) -> dict[str, str]:
        return {"main.go": self.code} if self.code is not None else dict(self.files or {})


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


RUN_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "JSON (RunRequest), or text/plain holding main.go, or no body to run the default program",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RunRequest"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}

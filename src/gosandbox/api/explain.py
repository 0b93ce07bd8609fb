"""POST /explain: what the Go compiler decided about a package (escapes, inlining, bounds and nil checks) and
its assembly, line by line. Nothing runs: the package is compiled once in the builder, as a job like /vet's.

The body is /run's (JSON, or main.go or a txtar archive as text/plain; ``stdin`` and ``args`` are accepted and
unused), plus what to list of the assembly. See :mod:`gosandbox.explain` for the decisions' kinds.
"""

from __future__ import annotations

from typing import Any, Self

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from gosandbox.auth.context import request_limits
from gosandbox.edge.context import RouteContext
from gosandbox.edge.requests import media_type, parse_json, run_spec
from gosandbox.edge.schemas import RunRequest, problem_responses
from gosandbox.edge.waiting import submit_and_wait
from gosandbox.errors import InvalidSource
from gosandbox.explain import ExplainOptions, ExplainResult
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.settings import Settings
from gosandbox.source import make_spec, utf8_bytes

#: The longest function name a request may ask for (Go's longest names, of generic instances, run to a few hundred).
MAX_FUNCTION_CHARS = 1000


class ExplainRequest(RunRequest):
    """A package to explain (as /run's body), and which part of its assembly to list."""

    assembly: bool = Field(True, description="list the assembly (false: the decisions only, a faster compile)")
    function: str | None = Field(
        None, min_length=1, max_length=MAX_FUNCTION_CHARS,
        description="list only this function's assembly: main.add, add, main.(*T).String",
    )  # fmt: skip
    lines: tuple[int, int] | None = Field(
        None, description="list only the instructions of these source lines: [first, last], inclusive"
    )
    file: str | None = Field(
        None, min_length=1, max_length=200, description="with lines: the file they are in (default: any file)"
    )

    @model_validator(mode="after")
    def _lines_in_order(self) -> Self:
        if self.lines is not None and not 1 <= self.lines[0] <= self.lines[1]:
            raise ValueError("lines must be [first, last] with 1 <= first <= last")
        if self.file is not None and self.lines is None:
            raise ValueError("file narrows lines: send lines with it")
        return self

    def options(self) -> ExplainOptions:
        return ExplainOptions(self.assembly, self.function, self.file, self.lines)


def explain_job(body: bytes, kind: str, settings: Settings) -> JobRequest:
    """The job of a /explain body; the limits are checked against the caller's caps as /run's are."""
    if not body.strip():
        raise InvalidSource("send a package: JSON with code, files or txtar, or main.go as text/plain")
    if kind == "text/plain":
        return JobRequest(Kind.EXPLAIN, run_spec(body, kind, settings, ""))  # main.go, or a txtar archive
    parsed = parse_json(body, ExplainRequest)
    limits = request_limits(settings, parsed.limits.overrides() if parsed.limits else {})
    stdin = utf8_bytes(parsed.stdin, "stdin")
    spec = make_spec(parsed.file_map(), stdin=stdin, args=parsed.args, limits=limits, go_version=parsed.go_version)
    return JobRequest(Kind.EXPLAIN, spec, explain_options=parsed.options())


def _request_body() -> dict[str, Any]:
    schema = ExplainRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # LimitsIn: among the components already (RunRequest's)
    text = {"schema": {"type": "string"}}
    description = "JSON (ExplainRequest), or text/plain holding main.go or a txtar archive"
    content = {"application/json": {"schema": schema}, "text/plain": text}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def add_explain_routes(app: FastAPI, routes: RouteContext) -> None:
    """POST /explain."""
    settings = routes.settings

    @app.post("/explain", response_model=ExplainResult, openapi_extra=_request_body(),
              responses=problem_responses(400, 409, 413, 415, 422, 429, 503))  # fmt: skip
    async def explain(request: Request) -> JSONResponse:
        """The compiler's decisions (escapes, inlining, bounds and nil checks) about the package's own files,
        each with its position and a kind from a closed set, and the assembly of its functions with each
        instruction's source line. Nothing runs; a package that does not compile answers compile_error."""
        kind = media_type(request)
        job = await routes.parsing.parse(request, settings.max_body_bytes, lambda b: explain_job(b, kind, settings))
        return await submit_and_wait(request, routes.service, job, routes.shutdown)

"""POST /judge: a program built once and run on each of its test cases in a fresh sandbox, each case with its
own verdict, time and memory; answers are compared (exact, lines, tokens with float tolerances) or judged by
a checker in Go (Kattis's output-validator convention). See docs/judge.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gosandbox.edge.context import RouteContext
from gosandbox.edge.judge import JudgeRequest
from gosandbox.edge.requests import judge_job, media_type
from gosandbox.edge.schemas import problem_responses
from gosandbox.edge.waiting import submit_and_wait
from gosandbox.errors import UnsupportedMediaType
from gosandbox.judge.task import JudgeResult


def _request_body() -> dict[str, Any]:
    schema = JudgeRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    definitions.pop("LimitsIn", None)  # among the components already (RunRequest's)
    for name, definition in definitions.items():  # CaseIn, CompareIn, ProgramIn: inlined where they are used
        schema = _inline(schema, name, definition)
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "description": "JSON (JudgeRequest)", "content": content}}


def _inline(node: Any, name: str, definition: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if node.get("$ref") == f"#/components/schemas/{name}":
            return definition
        return {key: _inline(value, name, definition) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, name, definition) for item in node]
    return node


def add_judge_routes(app: FastAPI, routes: RouteContext) -> None:
    """POST /judge."""
    settings = routes.settings

    @app.post("/judge", response_model=JudgeResult, openapi_extra=_request_body(),
              responses=problem_responses(400, 409, 413, 415, 422, 429, 503))  # fmt: skip
    async def judge(request: Request) -> JSONResponse:
        """Build the program once, run it on each case in a fresh sandbox with the request's limits, and judge
        each case's output: overall ``status`` (the first failing case's), the build, and per case its
        verdict, exit code, signal, wall and CPU time, peak memory, output and feedback."""
        if media_type(request) != "application/json":
            raise UnsupportedMediaType("POST /judge takes JSON (a program and its cases)")
        job = await routes.parsing.parse(request, settings.max_body_bytes, lambda b: judge_job(b, settings))
        return await submit_and_wait(request, routes.service, job, routes.shutdown)

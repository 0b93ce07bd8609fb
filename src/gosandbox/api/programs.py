"""POST /run, /test, /vet, /fmt: each parses its body into a job (in a parsing slot), submits it and
answers with its result once it ends (:func:`gosandbox.edge.waiting.submit_and_wait`).

``/fmt`` is also the Go Playground's: a form body goes to the handler the app factory passes in
(:func:`gosandbox.compat.playground.routes.add_playground_routes` makes it), JSON and plain text are ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gosandbox.edge.context import RouteContext
from gosandbox.edge.requests import fmt_job, go_test_job, is_form, media_type, run_job, vet_job
from gosandbox.edge.schemas import RunResponse, problem_responses, request_body
from gosandbox.edge.waiting import submit_and_wait
from gosandbox.errors import UnsupportedMediaType
from gosandbox.jobs.submission import JobRequest
from gosandbox.models import FmtResult, TestResult, VetResult

Prepare = Callable[[bytes, str], JobRequest]
#: The answer to a form posted to ``/fmt`` (the Go Playground's protocol).
FormHandler = Callable[[Request], Awaitable[Response]]


def add_program_routes(app: FastAPI, routes: RouteContext, fmt_form: FormHandler | None = None) -> None:
    """POST /run, /test, /vet, /fmt (``fmt_form`` answers a form posted to /fmt; without it a form is a 415).

    The default program is read once, at start-up: a missing file fails the start, not a request.
    """
    settings, service, shutdown, parsing = routes.settings, routes.service, routes.shutdown, routes.parsing
    default_program = settings.default_program_source()
    errors = problem_responses(400, 409, 413, 415, 422, 429, 503)  # 409: cancelled (DELETE of its submission)

    async def serve(request: Request, prepare: Prepare) -> JSONResponse:
        kind, refused = _media_type_unless_empty(request)
        job = await parsing.parse(request, settings.max_body_bytes, lambda body: prepare(body, refused(body) or kind))
        return await submit_and_wait(request, service, job, shutdown)

    @app.post("/run", response_model=RunResponse, openapi_extra=request_body("RunRequest", required=False),
              responses=errors)  # fmt: skip
    async def run(request: Request) -> JSONResponse:
        """Compile and run a Go program in fresh sandboxes; return its verdict and output."""
        return await serve(request, lambda b, k: run_job(b, k, settings, default_program))

    @app.post("/test", response_model=TestResult, openapi_extra=request_body("TestRequest", required=True),
              responses=errors)  # fmt: skip
    async def test(request: Request) -> JSONResponse:
        """``go test`` the package: per-test results, benchmarks, coverage; the tests run in a fresh sandbox."""
        return await serve(request, lambda b, k: go_test_job(b, k, settings))

    @app.post("/vet", response_model=VetResult, openapi_extra=request_body("SourceRequest", required=True),
              responses=errors)  # fmt: skip
    async def vet_package(request: Request) -> JSONResponse:
        """``go vet`` the package: findings with file, line, column, message and analyzer."""
        return await serve(request, vet_job)

    @app.post("/fmt", response_model=FmtResult, openapi_extra=request_body("SourceRequest", required=True),
              responses=errors)  # fmt: skip
    async def fmt(request: Request) -> Response:
        """gofmt each .go file and normalise go.mod; syntax errors come back with positions.

        A form (``body``, ``imports``) is the Go Playground's /fmt, answered as it answers: ``{Body, Error}``.
        """
        if fmt_form is not None and is_form(request):
            return await fmt_form(request)
        return await serve(request, fmt_job)


def _media_type_unless_empty(request: Request) -> tuple[str, Callable[[bytes], str | None]]:
    """The body's media type, and a check that refuses (415) an unsupported one only if the body is not empty:
    an empty body of any type (a form with no fields, as urllib and HTML forms send) is no body."""
    try:
        return media_type(request), lambda _body: None
    except UnsupportedMediaType as exc:
        refusal = exc

    def refused(body: bytes) -> str | None:
        if body.strip():
            raise refusal
        return "application/json"

    return "application/json", refused

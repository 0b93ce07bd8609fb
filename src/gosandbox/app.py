"""The FastAPI application factory: routes that turn a request into a job, and a job's end into a response."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response

from gosandbox._version import __version__
from gosandbox.api.jobs import add_job_routes, submit_and_wait
from gosandbox.auth.context import request_caps, request_defaults
from gosandbox.auth.middleware import install_auth
from gosandbox.backends.base import Backend
from gosandbox.compat.codapi import add_codapi_routes
from gosandbox.compat.judge0.routes import add_judge0_routes
from gosandbox.compat.piston.routes import add_piston_routes
from gosandbox.compat.playground.results import version_fields
from gosandbox.compat.playground.routes import PlaygroundContext, add_playground_routes, is_form, playground_fmt
from gosandbox.edge.docs import add_doc_routes
from gosandbox.edge.observe import add_metrics_route, observe_requests
from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.problems import UnsupportedMediaType, install_handlers
from gosandbox.edge.requests import fmt_job, go_test_job, media_type, run_job, vet_job
from gosandbox.edge.schemas import (
    FmtSubmission,
    Problem,
    RunRequest,
    RunResponse,
    RunSubmission,
    SourceRequest,
    TestRequest,
    TestSubmission,
    VetSubmission,
    problem_responses,
    request_body,
)
from gosandbox.edge.shutdown import Shutdown
from gosandbox.errors import BackendUnavailable
from gosandbox.jobs.dispatch import LocalDispatcher
from gosandbox.jobs.migrate import upgrade
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest
from gosandbox.limits import MINIMUMS
from gosandbox.models import FmtResult, TestResult, VetResult
from gosandbox.settings import Settings
from gosandbox.web.headers import install_nosniff
from gosandbox.web.pages import add_web_routes
from gosandbox.wiring import job_service, make_backend, make_runner, open_store, start_backend

logger = logging.getLogger(__name__)

Prepare = Callable[[bytes, str], JobRequest]


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """Build the app. Embedded (no ``GOSANDBOX_QUEUE_URL``): jobs run on ``backend``, by default the
    Docker backend made from ``settings``. Distributed: jobs go to workers; this node needs no Docker.
    """
    settings = settings or Settings()
    if settings.queue_url is None:
        backend = backend or make_backend(settings)
    runner = make_runner(settings, backend) if backend is not None else None
    store = open_store(settings, migrate=False)
    service = job_service(settings, store, runner, backend)
    shutdown = Shutdown()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, store.engine)  # migrations, under their lock
        if backend is not None:
            await asyncio.to_thread(start_backend, backend)
        await asyncio.to_thread(service.dispatcher.start)
        sweeper = asyncio.create_task(service.sweep_forever())
        try:
            async with app.state.mcp.running():  # the calls of /mcp, cancelled when it ends
                yield
        finally:
            if not shutdown.now:
                logger.info("shutting down: letting running jobs finish, removing sandboxes")
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await asyncio.to_thread(_close, service, backend)

    app = FastAPI(
        title="gosandbox",
        version=__version__,
        lifespan=lifespan,
        description="Run untrusted Go code in hardened, throwaway sandboxes.",
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: ours are served from the package
        redoc_url=None,
    )
    app.state.settings, app.state.backend, app.state.runner, app.state.jobs = settings, backend, runner, service
    app.state.shutdown, app.state.stop_now = shutdown, lambda: _stop_now(shutdown, service)
    parsing = ParsingGate(settings.parsing_slots())  # shared by every route that takes a body
    app.state.parsing = parsing
    install_handlers(app)
    _add_program_routes(app, settings, service, shutdown, parsing)
    add_job_routes(app, settings, service, shutdown, parsing)
    add_judge0_routes(app, settings, service, shutdown, parsing)  # /judge0: Judge0 CE's API
    add_piston_routes(app, settings, service, shutdown, parsing)  # /api/v2: Piston's API
    add_codapi_routes(app, settings, service, shutdown, parsing)  # /v1/exec: Codapi's API
    add_playground_routes(app, settings, service, shutdown, parsing)  # /compile, /share, /p/: the Go Playground's
    add_doc_routes(app)
    add_web_routes(app, settings, store.engine)  # /, /embed, /static/: the playground (/p/{id} is the Playground's)
    from gosandbox.mcp.server import mount_mcp  # noqa: PLC0415 - it imports this package's request parsing

    app.state.mcp = mount_mcp(app, settings, service)  # /mcp: the MCP tools over streamable HTTP
    install_auth(app, settings, store.engine)  # API keys, inside the observer: a 401 gets a request id too
    add_metrics_route(app)
    observe_requests(app)  # request ids and HTTP metrics
    install_nosniff(app)  # outermost: X-Content-Type-Options on every answer
    _add_status_routes(app, settings, service, backend)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _stop_now(shutdown: Shutdown, service: JobService) -> None:
    """Stop now rather than drain (a second SIGINT/SIGTERM; see :mod:`gosandbox.edge.serve`).

    The running jobs' sandboxes are killed; every waiting request answers at once, the synchronous
    ones 503 (see :mod:`gosandbox.edge.shutdown`). Call it on the event loop's thread; idempotent.
    """
    if not shutdown.set():
        return
    logger.warning("stopping now: cancelling the running jobs, answering every waiting request")
    if isinstance(service.dispatcher, LocalDispatcher):  # distributed: each request cancels its own job
        service.dispatcher.stop_now()


def _close(service: JobService, backend: Backend | None) -> None:
    service.dispatcher.close()
    service.end.webhooks.close()
    service.events.close()
    if backend is not None:
        backend.close()


def _add_program_routes(app: FastAPI, settings: Settings, service: JobService, shutdown: Shutdown,
                        parsing: ParsingGate) -> None:  # fmt: skip
    """POST /run, /test, /vet, /fmt: each parses its body into a job (in a parsing slot), submits it and
    waits for its end.

    The default program is read once, at start-up: a missing file fails the start, not a request.
    """
    default_program = settings.default_program_source()
    errors = problem_responses(400, 409, 413, 415, 422, 429, 503)  # 409: cancelled (DELETE of its submission)
    playground = PlaygroundContext(settings, service, shutdown, parsing)

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
        if is_form(request):
            return await playground_fmt(request, playground)
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


def _add_status_routes(app: FastAPI, settings: Settings, service: JobService, backend: Backend | None) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing of Docker)."""
        return {"status": "ok"}

    @app.get("/readyz", responses=problem_responses(503))
    async def readyz() -> dict[str, str]:
        """The database answers, and Docker with its images (embedded) or Redis with a worker (distributed)."""
        await asyncio.to_thread(service.store.ping)
        await asyncio.to_thread(service.dispatcher.check_ready)
        return {"status": "ready"}

    @app.get("/version")
    async def version() -> dict[str, Any]:
        versions = await asyncio.to_thread(_go_versions, service)
        default = versions[0] if versions else None  # Version, Release and Name: the Go Playground's fields
        return {"gosandbox": __version__, "go_version": default, "go_versions": versions, "runtime": settings.runtime,
                "backend": settings.backend, "mode": "distributed" if service.distributed else "embedded",
                **version_fields(default)}  # fmt: skip

    @app.get("/limits")
    async def limits() -> dict[str, dict[str, Any]]:
        """The limits a request gets when it asks none, the most it may ask (this key's caps, if any), the least."""
        return {"defaults": asdict(request_defaults(settings)), "caps": asdict(request_caps(settings)),
                "minimums": asdict(MINIMUMS)}  # fmt: skip


def _go_versions(service: JobService) -> list[str]:
    try:
        return service.dispatcher.go_versions()
    except BackendUnavailable:
        return []


_DOCUMENTED = (RunRequest, TestRequest, SourceRequest, Problem, RunSubmission, TestSubmission, VetSubmission,
               FmtSubmission)  # fmt: skip


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _DOCUMENTED:
            definitions = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definitions.pop("$defs", {}))
            components[model.__name__] = definitions
        app.openapi_schema = schema
    return app.openapi_schema

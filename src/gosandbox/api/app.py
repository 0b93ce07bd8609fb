"""The FastAPI application factory: routes that build a spec, call the runner, return its result."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi

from gosandbox import __version__
from gosandbox.api.admission import Admission
from gosandbox.api.problems import install_handlers
from gosandbox.api.requests import go_test_spec, media_type, read_capped_body, run_spec, source_spec
from gosandbox.api.schemas import (
    Problem,
    RunRequest,
    RunResponse,
    SourceRequest,
    TestRequest,
    problem_responses,
    request_body,
)
from gosandbox.backends.base import Backend
from gosandbox.binary_cache import BinaryCache
from gosandbox.errors import BackendUnavailable
from gosandbox.go_tools import format_files, run_tests, vet
from gosandbox.models import FmtResult, TestResult, VetResult
from gosandbox.runner import Runner
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

_DISCONNECT_POLL_S = 0.1
Result = TypeVar("Result")
Prepared = TypeVar("Prepared")


async def until_done_or_gone(
    request: Request, pool: ThreadPoolExecutor, work: Callable[[threading.Event], Result]
) -> Result:
    """Run ``work`` in a worker thread; if the client disconnects, set its cancel event."""
    cancel = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(pool, lambda: work(cancel))
    while True:
        done, _ = await asyncio.wait({future}, timeout=_DISCONNECT_POLL_S)
        if done:
            return await future
        if not cancel.is_set() and await request.is_disconnected():
            logger.info("client went away; stopping its run")
            cancel.set()


def _make_runner(settings: Settings, backend: Backend) -> Runner:
    cache = None
    # With a module proxy, "latest" versions can change under the same files: no binary cache then.
    if settings.binary_cache_mb > 0 and settings.module_proxy_dir() is None:
        identity = backend.build_identity
        cache = BinaryCache(
            settings.state_dir / "binaries", max_bytes=settings.binary_cache_mb * 1024 * 1024, build_identity=identity
        )
    return Runner(backend, build_timeout_s=settings.build_timeout_s, cache=cache)


def _docker_backend(settings: Settings) -> Backend:
    from gosandbox.backends.docker.backend import DockerBackend, config_from_settings  # noqa: PLC0415 - SDK stays optional

    return DockerBackend(config_from_settings(settings))


def _start_backend(backend: Backend) -> None:
    try:
        backend.start()
    except BackendUnavailable as exc:
        logger.error("the sandbox backend is not ready yet: %s (%s)", exc, exc.hint)


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """Build the app. Without ``backend``, the Docker backend is made from ``settings``."""
    settings = settings or Settings()
    backend = backend or _docker_backend(settings)
    runner = _make_runner(settings, backend)
    admission = Admission(settings.max_concurrent_runs, settings.max_queued_runs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_start_backend, backend)
        app.state.workers = ThreadPoolExecutor(max_workers=settings.max_concurrent_runs + 2, thread_name_prefix="run")
        try:
            yield
        finally:
            logger.info("shutting down: removing sandboxes")
            app.state.workers.shutdown(wait=True)
            await asyncio.to_thread(backend.close)

    app = FastAPI(
        title="gosandbox",
        version=__version__,
        lifespan=lifespan,
        description="Run untrusted Go code in hardened, throwaway sandboxes.",
    )
    app.state.settings, app.state.backend, app.state.runner, app.state.admission = settings, backend, runner, admission
    install_handlers(app)
    _add_program_routes(app, settings, runner, admission, settings.default_program_source())
    _add_status_routes(app, settings, backend)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _add_program_routes(
    app: FastAPI, settings: Settings, runner: Runner, admission: Admission, default_program: str
) -> None:
    """POST /run, /test, /vet, /fmt: each parses its body, waits for a slot, runs in a worker thread.

    ``default_program`` is read once, at start-up: a missing file fails the start, not a request.
    """
    errors = problem_responses(400, 413, 415, 422, 429, 503)

    async def serve(
        request: Request, prepare: Callable[[bytes, str], Prepared], work: Callable[[Prepared, threading.Event], Any]
    ) -> dict[str, Any]:
        kind = media_type(request)
        body = await read_capped_body(request, settings.max_body_bytes)
        prepared = await asyncio.to_thread(prepare, body, kind)  # validation never blocks the event loop
        async with admission.slot():
            result = await until_done_or_gone(request, request.app.state.workers, lambda cancel: work(prepared, cancel))
        return asdict(result)

    @app.post("/run", response_model=RunResponse, openapi_extra=request_body("RunRequest", required=False),
              responses=errors)  # fmt: skip
    async def run(request: Request) -> dict[str, Any]:
        """Compile and run a Go program in fresh sandboxes; return its verdict and output."""
        return await serve(
            request, lambda b, k: run_spec(b, k, settings, default_program), lambda spec, c: runner.run(spec, cancel=c)
        )

    @app.post("/test", response_model=TestResult, openapi_extra=request_body("TestRequest", required=True),
              responses=errors)  # fmt: skip
    async def test(request: Request) -> dict[str, Any]:
        """``go test`` the package: per-test results, benchmarks, coverage; the tests run in a fresh sandbox."""
        return await serve(
            request,
            lambda b, k: go_test_spec(b, k, settings),
            lambda job, c: run_tests(runner, job[0], job[1], c),
        )

    @app.post("/vet", response_model=VetResult, openapi_extra=request_body("SourceRequest", required=True),
              responses=errors)  # fmt: skip
    async def vet_package(request: Request) -> dict[str, Any]:
        """``go vet`` the package: findings with file, line, column, message and analyzer."""
        return await serve(request, source_spec, lambda job, _: vet(runner, job[0]))

    @app.post("/fmt", response_model=FmtResult, openapi_extra=request_body("SourceRequest", required=True),
              responses=errors)  # fmt: skip
    async def fmt(request: Request) -> dict[str, Any]:
        """gofmt each .go file and normalise go.mod; syntax errors come back with positions."""
        return await serve(request, source_spec, lambda job, _: format_files(runner, job[0], job[1].keys()))


def _add_status_routes(app: FastAPI, settings: Settings, backend: Backend) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing of Docker)."""
        return {"status": "ok"}

    @app.get("/readyz", responses=problem_responses(503))
    async def readyz() -> dict[str, str]:
        """Docker answers and the images are present."""
        await asyncio.to_thread(backend.check_ready)
        return {"status": "ready"}

    @app.get("/version")
    async def version() -> dict[str, Any]:
        return {"gosandbox": __version__, "go_version": backend.go_version, "go_versions": backend.go_versions,
                "runtime": settings.runtime}  # fmt: skip


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (RunRequest, TestRequest, SourceRequest, Problem):
            definitions = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definitions.pop("$defs", {}))
            components[model.__name__] = definitions
        app.openapi_schema = schema
    return app.openapi_schema

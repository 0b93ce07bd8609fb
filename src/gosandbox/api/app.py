"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import ValidationError

from gosandbox import __version__
from gosandbox.api.admission import Admission
from gosandbox.api.problems import UnsupportedMediaType, install_handlers
from gosandbox.api.schemas import RUN_REQUEST_BODY, Problem, RunRequest, RunResponse, problem_responses
from gosandbox.backends.base import Backend
from gosandbox.binary_cache import BinaryCache
from gosandbox.errors import BackendUnavailable, InvalidRequest, InvalidSource, PayloadTooLarge
from gosandbox.limits import resolve_limits
from gosandbox.models import RunResult, RunSpec
from gosandbox.runner import Runner
from gosandbox.settings import Settings
from gosandbox.source import make_spec, utf8_bytes

logger = logging.getLogger(__name__)

_DISCONNECT_POLL_S = 0.1


async def read_capped_body(request: Request, cap_bytes: int) -> bytes:
    """The whole body, refusing more than ``cap_bytes`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap_bytes:
        raise PayloadTooLarge(f"the body holds {declared} bytes; at most {cap_bytes} are allowed")
    if request.headers.get("content-encoding", "identity").lower() != "identity":
        raise UnsupportedMediaType("compressed request bodies are not accepted; send it uncompressed")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap_bytes:
            raise PayloadTooLarge(f"the body is larger than {cap_bytes} bytes")
    return bytes(body)


def _location(loc: tuple[int | str, ...]) -> str:
    """Where in the body an error is, with client-chosen names shortened."""
    return ".".join(str(part) if len(str(part)) <= 40 else str(part)[:36] + "…" for part in loc) or "body"


def _json_spec(body: bytes, settings: Settings) -> RunSpec:
    try:
        parsed = RunRequest.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
        raise InvalidSource(f"invalid JSON request: {problems}"[:2000]) from None
    overrides = parsed.limits.overrides() if parsed.limits else {}
    limits = resolve_limits(overrides, settings.default_limits(), settings.limit_caps())
    stdin = utf8_bytes(parsed.stdin, "stdin")
    return make_spec(parsed.file_map(), stdin=stdin, args=parsed.args, limits=limits)


def _text_spec(body: bytes, settings: Settings) -> RunSpec:
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the body is not valid UTF-8 (byte {exc.start})") from None
    return make_spec({"main.go": source}, limits=settings.default_limits())


def spec_from_body(body: bytes, content_type: str, settings: Settings) -> RunSpec:
    """Dispatch on the media type: JSON, plain text (main.go), or nothing (the default program)."""
    if not body.strip():
        return make_spec({"main.go": settings.default_program_source()}, limits=settings.default_limits())
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in ("application/json", ""):
        return _json_spec(body, settings)
    if media_type == "text/plain":
        return _text_spec(body, settings)
    raise UnsupportedMediaType(f"media type {media_type!r} is not supported; use application/json or text/plain")


async def run_until_done_or_gone(
    request: Request, runner: Runner, spec: RunSpec, pool: ThreadPoolExecutor
) -> RunResult:
    """Run in a worker thread; if the client disconnects, cancel so the sandbox dies at once."""
    cancel = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(pool, lambda: runner.run(spec, cancel=cancel))
    while True:
        done, _ = await asyncio.wait({future}, timeout=_DISCONNECT_POLL_S)
        if done:
            return await future
        if not cancel.is_set() and await request.is_disconnected():
            logger.info("client went away; stopping its run")
            cancel.set()


def _make_runner(settings: Settings, backend: Backend) -> Runner:
    cache = None
    if settings.binary_cache_mb > 0:
        identity = f"{backend.go_version}|{getattr(backend, 'images', '')}"
        cache = BinaryCache(
            settings.state_dir / "binaries", max_bytes=settings.binary_cache_mb * 1024 * 1024, build_identity=identity
        )
    return Runner(backend, build_timeout_s=settings.build_timeout_s, cache=cache)


def _docker_backend(settings: Settings) -> Backend:
    from gosandbox.backends.docker.backend import DockerBackend, DockerConfig  # noqa: PLC0415 - keep the SDK optional here

    config = DockerConfig(
        state_dir=settings.state_dir,
        instance=settings.instance,
        base_image=settings.go_image,
        policy=settings.policy(),
        default_limits=settings.default_limits(),
        pool_size=settings.pool_size,
        builder_memory_mb=settings.builder_memory_mb,
    )
    return DockerBackend(config)


def _start_backend(backend: Backend) -> None:
    start = getattr(backend, "start", None)
    if start is None:
        return
    try:
        start()
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

    @app.post(
        "/run",
        response_model=RunResponse,
        openapi_extra=RUN_REQUEST_BODY,
        responses=problem_responses(400, 413, 415, 422, 429, 503),
    )
    async def run(request: Request) -> dict[str, Any]:
        """Compile and run a Go program in fresh sandboxes; return its verdict and output."""
        body = await read_capped_body(request, settings.max_body_bytes)
        spec = spec_from_body(body, request.headers.get("content-type", ""), settings)
        async with admission.slot():
            result = await run_until_done_or_gone(request, runner, spec, request.app.state.workers)
        return asdict(result)

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
    async def version() -> dict[str, str]:
        return {"gosandbox": __version__, "go_version": backend.go_version, "runtime": settings.runtime}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        definitions = RunRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["RunRequest"] = definitions
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        app.openapi_schema = schema
    return app.openapi_schema

"""The FastAPI application factory: composes the native API, the compatibility layers, MCP, the web
playground and API keys over one job service, and runs the service's lifecycle with the app's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gosandbox._version import __version__
from gosandbox.api.explain import add_explain_routes
from gosandbox.api.interactive import add_interactive_routes
from gosandbox.api.jobs import add_job_routes
from gosandbox.api.judge import add_judge_routes
from gosandbox.api.programs import add_program_routes
from gosandbox.api.status import add_status_routes
from gosandbox.auth.middleware import install_auth
from gosandbox.backends.base import Backend
from gosandbox.compat.codapi import add_codapi_routes
from gosandbox.compat.judge0.routes import add_judge0_routes
from gosandbox.compat.piston.routes import add_piston_routes
from gosandbox.compat.playground.results import version_fields
from gosandbox.compat.playground.routes import add_playground_routes, playground_fmt
from gosandbox.edge.context import RouteContext
from gosandbox.edge.docs import add_doc_routes
from gosandbox.edge.headers import install_nosniff
from gosandbox.edge.hosts import install_site_guard
from gosandbox.edge.observe import add_metrics_route, observe_requests
from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.problems import install_handlers
from gosandbox.edge.shutdown import Shutdown
from gosandbox.jobs.dispatch import LocalDispatcher
from gosandbox.jobs.migrate import upgrade
from gosandbox.jobs.service import JobService
from gosandbox.mcp.server import mount_mcp
from gosandbox.settings import Settings
from gosandbox.web.pages import add_web_routes, share_page
from gosandbox.wiring import job_service, make_backend, make_runner, open_store, start_backend

logger = logging.getLogger(__name__)


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
    routes = RouteContext(settings, service, shutdown, parsing)
    add_program_routes(app, routes, lambda request: playground_fmt(request, routes))  # a form to /fmt: the Playground's
    add_explain_routes(app, routes)  # /explain: the compiler's decisions and assembly
    add_judge_routes(app, routes)  # /judge: one build, many test cases
    add_job_routes(app, routes)  # /submissions
    add_interactive_routes(app, routes)  # /runs/interactive: a run's stdin live over a WebSocket
    add_judge0_routes(app, routes)  # /judge0: Judge0 CE's API
    add_piston_routes(app, routes)  # /api/v2: Piston's API (/api/v2/connect: its interactive runs)
    add_codapi_routes(app, routes)  # /v1/exec: Codapi's API
    add_playground_routes(app, routes, share_page)  # /compile, /share, /p/: the Go Playground's
    add_doc_routes(app)
    add_web_routes(app, settings, store.engine)  # /, /embed, /static/: the playground (/p/{id} is the Playground's)
    app.state.mcp = mount_mcp(app, settings, service)  # /mcp: the MCP tools over streamable HTTP
    install_auth(app, settings, store.engine)  # API keys, inside the observer: a 401 gets a request id too
    add_metrics_route(app)
    install_site_guard(app, settings)  # Host (DNS rebinding: 421) and cross-site writes (403), on every route
    observe_requests(app)  # request ids and HTTP metrics
    install_nosniff(app)  # outermost: X-Content-Type-Options on every answer
    add_status_routes(app, settings, service, version_fields)  # /version has the Playground's fields too
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

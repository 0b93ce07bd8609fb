"""Piston v2 under ``/api/v2``: ``GET /runtimes`` and ``POST /execute``, for clients of Piston.

A thin translator: :mod:`~gosandbox.compat.piston.request` turns the body into a run job,
:mod:`~gosandbox.compat.piston.result` turns our result into Piston's answer; the job runs as every
other (its queue, limits, API keys). Errors answer as Piston's do, ``{"message": ...}``, with 400 for
anything wrong in the request (Piston's one code for it) and our status otherwise (413, 429, 503).
The body is read as JSON whatever its ``Content-Type``: the ``piston-client`` npm package sends
JSON as ``text/plain`` (it sets no type, so its fetch picks that one).

Mounted by ``add_piston_routes(app, routes)`` in the app factory.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gosandbox.compat.finish import run_to_end
from gosandbox.compat.piston.connect import add_piston_connect
from gosandbox.compat.piston.request import PistonJob, execute_job, runtimes
from gosandbox.compat.piston.result import execute_answer, failed_answer
from gosandbox.edge.context import RouteContext
from gosandbox.edge.shutdown import Shutdown
from gosandbox.edge.waiting import Unfinished
from gosandbox.errors import GosandboxError, JobFailed
from gosandbox.jobs.service import JobService

#: Statuses that keep their code; every other 4xx is a 400, as Piston answers any invalid request.
_KEPT = (401, 403, 413, 429)


def piston_error(unfinished: Unfinished) -> JSONResponse:
    """A problem document as Piston's ``{"message"}``, with its ``Retry-After`` if it had one."""
    status = unfinished.status
    if 400 <= status < 500 and status not in _KEPT:
        status = 400
    return JSONResponse({"message": unfinished.detail}, status_code=status, headers=unfinished.headers)


def add_piston_routes(app: FastAPI, routes: RouteContext) -> None:
    settings, service, shutdown, parsing = routes.settings, routes.service, routes.shutdown, routes.parsing
    add_piston_connect(app, routes)  # /api/v2/connect: interactive runs (a WebSocket)
    tags: list[str | Enum] = ["Piston v2"]

    def prepare(body: bytes) -> PistonJob:
        return execute_job(body, settings, service.dispatcher.go_versions)

    @app.get("/api/v2/runtimes", tags=tags)
    async def piston_runtimes() -> Any:
        """Piston's runtime list: ``go`` (alias ``golang``) once per toolchain, the default first."""
        try:
            return runtimes(await asyncio.to_thread(service.dispatcher.go_versions))
        except GosandboxError as exc:
            return piston_error(Unfinished.of(exc))

    @app.post("/api/v2/execute", tags=tags)
    async def piston_execute(request: Request) -> JSONResponse:
        """Piston's execute: ``{language, version, files, stdin, args, *_timeout, *_memory_limit}``."""
        try:
            job = await parsing.parse(request, settings.max_body_bytes, prepare)
        except GosandboxError as exc:
            return piston_error(Unfinished.of(exc))
        return await _answer(request, service, job, shutdown)


async def _answer(request: Request, service: JobService, job: PistonJob, shutdown: Shutdown) -> JSONResponse:
    """Run the job; its result, a service failure during it (``XX``), or why it gave none."""
    try:
        finished = await run_to_end(request, service, job.job, shutdown, in_order=True)
    except JobFailed as exc:
        return JSONResponse(failed_answer(str(exc), job.language, job.version))
    except GosandboxError as exc:
        return piston_error(Unfinished.of(exc))
    except Unfinished as unfinished:
        return piston_error(unfinished)
    return JSONResponse(execute_answer(finished.result, finished.chunks, job.language, job.version))

"""GET /healthz, /readyz, /version, /limits: what a probe, an operator or a client asks of the server itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI

from gosandbox._version import __version__
from gosandbox.auth.context import request_caps, request_defaults
from gosandbox.defaults import isolation, why
from gosandbox.edge.schemas import problem_responses
from gosandbox.errors import BackendUnavailable
from gosandbox.jobs.service import JobService
from gosandbox.limits import MINIMUMS, cap_of
from gosandbox.settings import Settings

#: More fields of /version, given its default Go version (the Go Playground's ``Version``, ``Release``, ``Name``).
VersionFields = Callable[[str | None], dict[str, Any]]


def add_status_routes(app: FastAPI, settings: Settings, service: JobService,
                      more_version_fields: VersionFields | None = None) -> None:  # fmt: skip
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
        default = versions[0] if versions else None
        more = more_version_fields(default) if more_version_fields is not None else {}
        return {"gosandbox": __version__, "go_version": default, "go_versions": versions, "runtime": settings.runtime,
                "backend": settings.backend, "mode": "distributed" if service.distributed else "embedded",
                "isolation": isolation(settings.backend, settings.runtime),
                "isolation_reason": why(settings.backend, settings.runtime), **more}  # fmt: skip

    @app.get("/limits")
    async def limits() -> dict[str, dict[str, Any]]:
        """The limits a request gets when it asks none, the most it may ask (this key's caps, if any), the least."""
        caps = request_caps(settings)
        caps_shown = {**asdict(caps), "cpu_ms": cap_of(caps, "cpu_ms")}  # unset: what wall_s and cpus allow
        return {"defaults": asdict(request_defaults(settings)), "caps": caps_shown, "minimums": asdict(MINIMUMS)}


def _go_versions(service: JobService) -> list[str]:
    try:
        return service.dispatcher.go_versions()
    except BackendUnavailable:
        return []

"""Run a translated job to its end, for the compatibility layers: the result, and the output in order.

Every layer answers synchronously, as its origin does, through :func:`gosandbox.api.jobs.submit_and_wait`
(so a client that hangs up cancels its job, and a server stopping now answers at once). What the
native API answers with a problem document reaches a layer as :class:`Unfinished`, which it renders
in its own error shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from gosandbox.api.jobs import submit_and_wait
from gosandbox.compat.order import Chunk, ordered_chunks
from gosandbox.edge.shutdown import Shutdown
from gosandbox.errors import GosandboxError
from gosandbox.jobs.events import RESULT
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest
from gosandbox.problems import internal_error, problem_of


class Unfinished(Exception):
    """The job gave no result: the problem document (as the native API would answer) and its headers."""

    def __init__(self, problem: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(str(problem.get("detail", "")))
        self.problem, self.headers = problem, dict(headers or {})

    @property
    def status(self) -> int:
        return int(self.problem.get("status", 500))

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail", ""))

    @classmethod
    def of(cls, exc: GosandboxError) -> Unfinished:
        """A service error as the native API maps it (the one table in :mod:`gosandbox.problems`)."""
        headers = {"Retry-After": str(exc.retry_after_s)} if hasattr(exc, "retry_after_s") else None
        return cls(problem_of(exc) or internal_error(), headers)


@dataclass(frozen=True)
class Finished:
    result: dict[str, Any]
    #: the run's output chunks in order (``in_order``); None when not asked or not known (events were lost)
    chunks: list[Chunk] | None


async def run_to_end(request: Request, service: JobService, job: JobRequest, shutdown: Shutdown, *,
                     in_order: bool = False) -> Finished:  # fmt: skip
    """Submit ``job`` and wait for its end; no result raises :class:`Unfinished`, or ``JobFailed`` (it ran and
    the service failed). ``in_order``: also read its output events, for the layers that show the order."""
    response = await submit_and_wait(request, service, job, shutdown)
    document = json.loads(bytes(response.body))
    if response.status_code != 200:
        raise Unfinished(document, {k: v for k, v in response.headers.items() if k.lower() == "retry-after"})
    chunks = await output_chunks(service, response.headers["x-submission-id"], document) if in_order else None
    return Finished(document, chunks)


async def output_chunks(service: JobService, submission_id: str, result: dict[str, Any]) -> list[Chunk] | None:
    """The output events of the finished job, in order (see :func:`~gosandbox.compat.order.ordered_chunks`).

    A finished job's stream replays its stored events, or the live log while they are being stored.
    """
    chunks: list[Chunk] = []
    try:
        async for event in service.stream(submission_id, None):
            if event is None or event.name == RESULT:
                break
            chunks.append((event.name, str(event.data.get("text", ""))))
    except GosandboxError:
        return None
    return ordered_chunks(chunks, result)

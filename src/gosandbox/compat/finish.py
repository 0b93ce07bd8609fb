"""Run a translated job to its end, for the compatibility layers: the result, and the output in order.

Every layer answers synchronously, as its origin does, through :func:`gosandbox.edge.waiting.wait_for_end`
(so a client that hangs up cancels its job, and a server stopping now answers at once). What the
native API answers with a problem document reaches a layer as :class:`~gosandbox.edge.waiting.Unfinished`,
which it renders in its own error shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from gosandbox.compat.order import Chunk, ordered_chunks
from gosandbox.edge.shutdown import Shutdown
from gosandbox.edge.waiting import wait_for_end
from gosandbox.errors import GosandboxError
from gosandbox.jobs.events import RESULT
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest


@dataclass(frozen=True)
class Finished:
    result: dict[str, Any]
    #: the run's output chunks in order (``in_order``); None when not asked or not known (events were lost)
    chunks: list[Chunk] | None


async def run_to_end(request: Request, service: JobService, job: JobRequest, shutdown: Shutdown, *,
                     in_order: bool = False) -> Finished:  # fmt: skip
    """Submit ``job`` and wait for its end; no result raises ``Unfinished``, or ``JobFailed`` (it ran and
    the service failed). ``in_order``: also read its output events, for the layers that show the order."""
    final = await wait_for_end(request, service, job, shutdown)
    result = final.result or {}
    chunks = await output_chunks(service, final.id, result) if in_order else None
    return Finished(result, chunks)


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

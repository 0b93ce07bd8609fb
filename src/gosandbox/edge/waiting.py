"""Submit a job and wait for its end: every synchronous route (the native /run, /test, /vet, /fmt and the
compatibility layers) answers through :func:`wait_for_end`.

A client that hung up before its job is stored submits nothing. One that hangs up while its job
waits or runs is seen at once (a task waits for uvicorn's disconnect message): the job is cancelled
before it can start (see :meth:`~gosandbox.jobs.service.JobService.abandon`), its sandbox killed if
it runs. When the server stops now, the job is cancelled and the client told so (503).

A job that gives no result reaches its route as :class:`Unfinished` (the problem document the native
API answers, and its headers), which each route renders in its own error shape.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from gosandbox.auth.context import current_owner
from gosandbox.edge.problems import problem_response
from gosandbox.edge.shutdown import Shutdown
from gosandbox.errors import GosandboxError, JobFailed, SubmissionFinished
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest, State, Submission
from gosandbox.problems import internal_error, problem_document, problem_headers, problem_of, shutting_down

logger = logging.getLogger(__name__)

_SHUTDOWN_POLL_S = 0.1


class Unfinished(Exception):
    """The job gave no result: the problem document (as the native API answers it) and its headers."""

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
        """A service error as the native API answers it (the table in :mod:`gosandbox.problems`)."""
        return cls(problem_of(exc) or internal_error(), problem_headers(exc))


async def wait_for_end(request: Request, service: JobService, job: JobRequest, shutdown: Shutdown) -> Submission:
    """Submit ``job`` as the request's owner and return it once it is done.

    :class:`Unfinished` when it gave no result (the client went away, the server stops now, it was
    cancelled); ``JobFailed`` when the service could not finish it.
    """
    if await request.is_disconnected():
        logger.info("client went away before its job was stored; nothing submitted")
        raise Unfinished(_gone())
    owner = current_owner()
    submission, _ = await asyncio.to_thread(lambda: service.submit(job, owner=owner, sync=True))
    gone = asyncio.create_task(_until_disconnected(request))
    waiting = asyncio.create_task(service.wait(submission.id, None))
    try:
        while not waiting.done():
            await asyncio.wait({waiting, gone}, timeout=_SHUTDOWN_POLL_S, return_when=asyncio.FIRST_COMPLETED)
            if shutdown.now:
                return _with_result(await _stopped_now(service, submission.id))
            if gone.done() and not waiting.done():
                logger.info("client went away; cancelling submission %s", submission.id)
                await service.abandon(submission.id)
                break
        final = await waiting
    finally:
        waiting.cancel()
        gone.cancel()
    return _with_result(final)


async def submit_and_wait(request: Request, service: JobService, job: JobRequest,
                          shutdown: Shutdown) -> JSONResponse:  # fmt: skip
    """The native synchronous routes' answer: the result the moment it exists, else a problem document."""
    try:
        final = await wait_for_end(request, service, job, shutdown)
    except Unfinished as exc:
        return problem_response(exc.problem, exc.headers)
    return JSONResponse(final.result, headers={"X-Submission-Id": final.id})


def _with_result(final: Submission) -> Submission:
    """``final`` if it has a result; ``JobFailed`` if the service failed it, :class:`Unfinished` if it was cancelled."""
    if final.state is State.FAILED:
        raise JobFailed(final.error or {})
    if final.state is State.CANCELLED or final.result is None:
        detail = f"the job was cancelled before it finished (DELETE /submissions/{final.id}); submit it again to run it"
        raise Unfinished(problem_document(409, "cancelled", detail), {"X-Submission-Id": final.id})
    return final


async def _until_disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body was read: the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _gone() -> dict[str, Any]:
    return problem_document(400, "client-disconnected", "the client hung up before its job was submitted")


async def _stopped_now(service: JobService, submission_id: str) -> Submission:
    """The server stops now: cancel the job (if it ended this moment, its result stands) and say so."""
    try:
        await asyncio.to_thread(service.cancel, submission_id)
    except SubmissionFinished:
        return await asyncio.to_thread(service.get, submission_id)
    logger.info("stopping now; submission %s cancelled, its client answered 503", submission_id)
    raise Unfinished(shutting_down(), {"X-Submission-Id": submission_id, "Connection": "close"})

"""Routes of jobs: /submissions (submit, batch, get, list, cancel, live events), and submit-and-wait."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.problems import problem_response
from gosandbox.edge.requests import media_type, parse_json, submission_job
from gosandbox.edge.schemas import BatchOut, BatchRequest, SubmissionList, SubmissionOut, problem_responses
from gosandbox.edge.shutdown import Shutdown, StoppingNow
from gosandbox.errors import InvalidRequest, JobFailed, SubmissionFinished, SubmissionNotFound
from gosandbox.jobs.events import Event
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest, State, Submission
from gosandbox.problems import problem_document, shutting_down
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{32}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_SHUTDOWN_POLL_S = 0.1
MAX_WAIT_S = 60.0


def _checked_id(submission_id: str) -> str:
    if not _ID.match(submission_id):
        raise SubmissionNotFound("no submission has this id (ids are 32 hexadecimal digits)")
    return submission_id


async def submit_and_wait(request: Request, service: JobService, job: JobRequest,
                          shutdown: Shutdown) -> JSONResponse:  # fmt: skip
    """The synchronous endpoints: submit, then answer with the result the moment it exists.

    A client that hung up before its job is stored submits nothing. One that hangs up while its
    job waits or runs is seen at once (a task waits for uvicorn's disconnect message): the job is
    cancelled before it can start (see :meth:`JobService.abandon`), its sandbox killed if it runs.
    When the server stops now, the job is cancelled and the client told so (503).
    """
    if await request.is_disconnected():
        logger.info("client went away before its job was stored; nothing submitted")
        return problem_response(_gone())
    submission, _ = await asyncio.to_thread(lambda: service.submit(job, sync=True))
    gone = asyncio.create_task(_until_disconnected(request))
    waiting = asyncio.create_task(service.wait(submission.id, None))
    try:
        while not waiting.done():
            await asyncio.wait({waiting, gone}, timeout=_SHUTDOWN_POLL_S, return_when=asyncio.FIRST_COMPLETED)
            if shutdown.now:
                return await _stopped_now(service, submission.id)
            if gone.done() and not waiting.done():
                logger.info("client went away; cancelling submission %s", submission.id)
                await service.abandon(submission.id)
                break
        final = await waiting
    finally:
        waiting.cancel()
        gone.cancel()
    return result_response(final)


async def _until_disconnected(request: Request) -> None:
    """Returns when the client hangs up (the body was read: the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _gone() -> dict[str, Any]:
    return problem_document(400, "client-disconnected", "the client hung up before its job was submitted")


async def _stopped_now(service: JobService, submission_id: str) -> JSONResponse:
    """The server stops now: cancel the job (if it ended this moment, its result stands) and say so."""
    try:
        await asyncio.to_thread(service.cancel, submission_id)
    except SubmissionFinished:
        return result_response(await asyncio.to_thread(service.get, submission_id))
    logger.info("stopping now; submission %s cancelled, its client answered 503", submission_id)
    return problem_response(shutting_down(), {"X-Submission-Id": submission_id, "Connection": "close"})


def result_response(final: Submission) -> JSONResponse:
    if final.state is State.FAILED:
        raise JobFailed(final.error or {})
    headers = {"X-Submission-Id": final.id}
    if final.state is State.CANCELLED or final.result is None:
        detail = f"the job was cancelled before it finished (DELETE /submissions/{final.id}); submit it again to run it"
        return problem_response(problem_document(409, "cancelled", detail), headers)
    return JSONResponse(final.result, headers=headers)


def _sse(event_id: str, name: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {name}\ndata: {payload}\n\n".encode()


def add_job_routes(app: FastAPI, settings: Settings, service: JobService, shutdown: Shutdown,
                   parsing: ParsingGate) -> None:  # fmt: skip
    _add_submit_routes(app, settings, service, shutdown, parsing)
    _add_read_routes(app, service, shutdown)


def _batch_jobs(body: bytes, settings: Settings) -> list[tuple[JobRequest, str | None]]:
    batch = parse_json(body, BatchRequest)
    parsed = []
    for index, item in enumerate(batch.submissions):
        try:
            parsed.append(submission_job(json.dumps(item).encode(), "application/json", settings))
        except InvalidRequest as exc:
            raise type(exc)(f"submissions[{index}]: {exc}") from None
    return parsed


def _add_submit_routes(app: FastAPI, settings: Settings, service: JobService, shutdown: Shutdown,
                       parsing: ParsingGate) -> None:  # fmt: skip
    errors = problem_responses(400, 413, 415, 422, 429, 503)
    replay = "an Idempotency-Key seen before: that submission, unchanged"
    replayed: dict[int | str, dict[str, Any]] = {200: {"description": replay, "model": SubmissionOut}}

    @app.post("/submissions", status_code=201, response_model=SubmissionOut, responses={**errors, **replayed},
              openapi_extra=_submission_body())  # fmt: skip
    async def submit(request: Request, wait: float = Query(0, ge=0, le=MAX_WAIT_S)) -> JSONResponse:
        """Store a job (a /run, /test, /vet or /fmt body with ``kind``); ``?wait=S`` holds the answer until it ends."""
        key = request.headers.get("idempotency-key")
        if key is not None and not _KEY.match(key):
            raise InvalidRequest("Idempotency-Key must be 1-255 printable ASCII characters")
        kind = media_type(request)
        job, callback_url = await parsing.parse(request, settings.max_body_bytes,
                                                lambda body: submission_job(body, kind, settings))  # fmt: skip
        submission, created = await asyncio.to_thread(
            lambda: service.submit(job, callback_url=callback_url, idempotency_key=key)
        )
        if wait > 0:
            submission = await _wait_unless_stopping(service, submission.id, wait, shutdown)
        headers = {"Location": f"/submissions/{submission.id}"}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(submission.public(), status_code=201 if created else 200, headers=headers)

    @app.post("/submissions/batch", status_code=201, response_model=BatchOut, responses=errors)
    async def submit_batch(request: Request) -> dict[str, list[str]]:
        """Store up to 100 jobs at once: all are checked (and room for all asked) before any is stored."""
        requests = await parsing.parse(request, settings.max_body_bytes, lambda body: _batch_jobs(body, settings))
        submissions = await asyncio.to_thread(service.submit_many, requests)
        return {"ids": [s.id for s in submissions]}


async def _wait_unless_stopping(service: JobService, submission_id: str, wait_s: float,
                                shutdown: Shutdown) -> Submission:  # fmt: skip
    """``?wait=``: the submission once it ends, or after ``wait_s``, or as it stands when the server stops now
    (it was stored: a running job goes back to the queue and runs at the next start)."""
    try:
        return await shutdown.race(service.wait(submission_id, wait_s))
    except StoppingNow:
        return await asyncio.to_thread(service.get, submission_id)


def _add_read_routes(app: FastAPI, service: JobService, shutdown: Shutdown) -> None:
    @app.get("/submissions", response_model=SubmissionList, responses=problem_responses(400, 422, 503))
    async def list_submissions(ids: str = Query(description="comma-separated ids, at most 100")) -> dict[str, Any]:
        """The submissions with these ids, in that order (unknown ones are left out)."""
        asked = [i.strip() for i in ids.split(",") if i.strip()]
        wanted = list(dict.fromkeys(asked))  # each once
        if not wanted or len(asked) > 100 or not all(_ID.match(i) for i in wanted):
            raise InvalidRequest("ids must be 1-100 comma-separated submission ids (32 hexadecimal digits each)")
        found = await asyncio.to_thread(service.store.get_many, wanted)
        return {"submissions": [s.public() for s in found]}

    @app.get("/submissions/{submission_id}", response_model=SubmissionOut, responses=problem_responses(404, 422, 503))
    async def get_submission(submission_id: str) -> dict[str, Any]:
        """The submission: state, result once done, error if the service failed."""
        return (await asyncio.to_thread(service.get, _checked_id(submission_id))).public()

    @app.delete("/submissions/{submission_id}", response_model=SubmissionOut,
                responses=problem_responses(404, 409, 422, 503))  # fmt: skip
    async def cancel_submission(submission_id: str) -> dict[str, Any]:
        """Cancel: a queued job never runs, a running one's sandbox is killed; a finished one gives 409."""
        return (await asyncio.to_thread(service.cancel, _checked_id(submission_id))).public()

    nothing_more = {"description": "a finished job with no event after Last-Event-ID: nothing more will come"}
    events_doc = {**problem_responses(404, 422, 503), 200: _sse_doc(), 204: nothing_more}

    @app.get("/submissions/{submission_id}/events", responses=events_doc)
    async def submission_events(request: Request, submission_id: str) -> Response:
        """Server-Sent Events: state, compile, stdout/stderr chunks as written, then result; Last-Event-ID resumes."""
        stream = service.stream(_checked_id(submission_id), request.headers.get("last-event-id"))
        try:
            first = await anext(stream)  # a missing submission is a 404, not an empty stream
        except StopAsyncIteration:
            return Response(status_code=204)  # tells an EventSource to stop reconnecting
        return StreamingResponse(_render(first, stream, shutdown), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip


async def _render(first: Event | None, stream: AsyncIterator[Event | None],
                  shutdown: Shutdown) -> AsyncIterator[bytes]:  # fmt: skip
    """The stream's events; it ends when the job does, or when the server stops now (the client resumes later)."""
    item = first
    while True:
        yield b": keep-alive\n\n" if item is None else _sse(item.id, item.name, item.data)
        try:
            item = await shutdown.race(anext(stream))
        except (StopAsyncIteration, StoppingNow):
            return


def _submission_body() -> dict[str, Any]:
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in
            ("RunSubmission", "TestSubmission", "VetSubmission", "FmtSubmission")]  # fmt: skip
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": refs}}}}}


def _sse_doc() -> dict[str, Any]:
    return {"description": "an event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}

"""Routes of jobs: /submissions (submit, batch, get, list, cancel, live events).

Every id a client sends is looked up as the caller's (``viewer``): another API key's submission is a
404, as one that never existed. A listing is streamed a few submissions at a time, so that a client
that does not read holds at most those in the server's memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gosandbox.auth.context import batch_charge, current_owner
from gosandbox.edge.context import RouteContext
from gosandbox.edge.requests import media_type, parse_json, submission_job
from gosandbox.edge.schemas import BatchOut, BatchRequest, SubmissionList, SubmissionOut, problem_responses
from gosandbox.edge.shutdown import Shutdown, StoppingNow
from gosandbox.errors import InvalidRequest, SubmissionNotFound
from gosandbox.jobs.events import Event
from gosandbox.jobs.service import JobService
from gosandbox.jobs.store import json_text
from gosandbox.jobs.submission import JobRequest, Owner, Submission, is_submission_id
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_WAIT_S = 60.0
#: Submissions read and rendered at once while a listing is streamed (each up to ~3 MiB of output).
_LISTED_AT_ONCE = 4


def _checked_id(submission_id: str) -> str:
    if not is_submission_id(submission_id):
        raise SubmissionNotFound("no submission has this id (ids are 32 hexadecimal digits)")
    return submission_id


def _sse(event_id: str, name: str, data: dict[str, Any]) -> bytes:
    payload = json_text(data)  # UTF-8 as it is: an output's Control Pictures are 3 bytes, not a 6-byte escape
    return f"id: {event_id}\nevent: {name}\ndata: {payload}\n\n".encode()


def add_job_routes(app: FastAPI, routes: RouteContext) -> None:
    _add_submit_routes(app, routes)
    _add_read_routes(app, routes.service, routes.shutdown)


def _batch_jobs(body: bytes, settings: Settings) -> list[tuple[JobRequest, str | None]]:
    batch = parse_json(body, BatchRequest)
    parsed = []
    for index, item in enumerate(batch.submissions):
        try:
            parsed.append(submission_job(json.dumps(item).encode(), "application/json", settings))
        except InvalidRequest as exc:
            raise type(exc)(f"submissions[{index}]: {exc}") from None
    return parsed


def _add_submit_routes(app: FastAPI, routes: RouteContext) -> None:
    settings, service, shutdown, parsing = routes.settings, routes.service, routes.shutdown, routes.parsing
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
        owner = current_owner()
        submission, created = await asyncio.to_thread(
            lambda: service.submit(job, owner=owner, callback_url=callback_url, idempotency_key=key)
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
        owner, charge = current_owner(), batch_charge()
        submissions = await asyncio.to_thread(lambda: service.submit_many(requests, owner=owner, charge=charge))
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
    async def list_submissions(ids: str = Query(description="comma-separated ids, at most 100")) -> Response:
        """The caller's submissions with these ids, in that order (unknown ones and other keys' are left out)."""
        asked = [i.strip() for i in ids.split(",") if i.strip()]
        wanted = list(dict.fromkeys(asked))  # each once
        if not wanted or len(asked) > 100 or not all(is_submission_id(i) for i in wanted):
            raise InvalidRequest("ids must be 1-100 comma-separated submission ids (32 hexadecimal digits each)")
        viewer = current_owner()
        first = await asyncio.to_thread(service.get_many, wanted[:_LISTED_AT_ONCE], viewer=viewer)  # fails as a 503
        listing = _listing(service, first, wanted[_LISTED_AT_ONCE:], viewer)
        return StreamingResponse(listing, media_type="application/json")

    @app.get("/submissions/{submission_id}", response_model=SubmissionOut, responses=problem_responses(404, 422, 503))
    async def get_submission(submission_id: str) -> dict[str, Any]:
        """The submission: state, result once done, error if the service failed."""
        viewer = current_owner()
        return (await asyncio.to_thread(lambda: service.get(_checked_id(submission_id), viewer=viewer))).public()

    @app.delete("/submissions/{submission_id}", response_model=SubmissionOut,
                responses=problem_responses(404, 409, 422, 503))  # fmt: skip
    async def cancel_submission(submission_id: str) -> dict[str, Any]:
        """Cancel: a queued job never runs, a running one's sandbox is killed; a finished one gives 409."""
        viewer = current_owner()
        return (await asyncio.to_thread(lambda: service.cancel(_checked_id(submission_id), viewer=viewer))).public()

    nothing_more = {"description": "a finished job with no event after Last-Event-ID: nothing more will come"}
    events_doc = {**problem_responses(404, 422, 503), 200: _sse_doc(), 204: nothing_more}

    @app.get("/submissions/{submission_id}/events", responses=events_doc)
    async def submission_events(request: Request, submission_id: str) -> Response:
        """Server-Sent Events: state, compile, stdout/stderr chunks as written, then result; Last-Event-ID resumes."""
        stream = service.stream(_checked_id(submission_id), request.headers.get("last-event-id"),
                                viewer=current_owner())  # fmt: skip
        try:
            first = await anext(stream)  # a missing submission is a 404, not an empty stream
        except StopAsyncIteration:
            return Response(status_code=204)  # tells an EventSource to stop reconnecting
        return StreamingResponse(_render(first, stream, shutdown), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip


async def _listing(service: JobService, first: list[Submission], rest: list[str],
                   viewer: Owner) -> AsyncIterator[bytes]:  # fmt: skip
    """``{"submissions": [...]}``, read and rendered :data:`_LISTED_AT_ONCE` at a time."""
    yield b'{"submissions":['
    separator, found, position = b"", first, 0
    while True:
        for submission in found:
            yield separator + json_text(submission.public()).encode()
            separator = b","
        if position >= len(rest):
            break
        ids, position = rest[position : position + _LISTED_AT_ONCE], position + _LISTED_AT_ONCE
        found = await asyncio.to_thread(service.get_many, ids, viewer=viewer)
    yield b"]}"


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

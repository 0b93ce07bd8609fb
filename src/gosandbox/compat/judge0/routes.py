"""Judge0 CE 1.13.1's API under ``/judge0``, Go only: a client switches by changing its base URL.

Routes: ``/about``, ``/version``, ``/config_info``, ``/statuses``, ``/languages`` (``/all``,
``/{id}``), ``POST /submissions`` (``?base64_encoded``, ``?wait``, ``?fields``),
``GET|DELETE /submissions/{token}``, ``POST /submissions/batch``, ``GET /submissions/batch?tokens=``.
Requests become our run jobs (:mod:`.judge0_schemas`), submissions come back as Judge0's JSON
(:mod:`.judge0_render`, :mod:`.judge0_status`); nothing here runs anything.

Where it differs from Judge0: ``wait=true`` answers the moment the run ends (Judge0 1.13.1 polls,
2 s at the least); DELETE of a queued or running submission cancels it (Judge0 refuses with 400),
of a finished one deletes it; a callback goes only to allowed hosts. The callback itself is Judge0's
(a ``PUT`` of the default fields, Base64), with our signature header, retries and recorded outcome.
A token is its API key's: another key's reads and deletes answer 404, as for a token that never was.
A batch read answers each token once (Judge0 repeats one asked twice), and is streamed a submission at
a time, so that a client that does not read holds one in the server's memory, not twenty.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from gosandbox.auth.context import batch_charge, current_owner
from gosandbox.compat.judge0 import info
from gosandbox.compat.judge0.render import from_token, render, requested_fields, to_token
from gosandbox.compat.judge0.schemas import Judge0Rejected, batch_items, invalid, read_body, submission_job
from gosandbox.compat.judge0.status import STATUSES, status_document
from gosandbox.edge.context import RouteContext
from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.shutdown import Shutdown, StoppingNow
from gosandbox.errors import BackendUnavailable, CallbackNotAllowed, SubmissionNotFound, UnknownToolchain
from gosandbox.jobs.service import JobService
from gosandbox.jobs.store import json_text
from gosandbox.jobs.submission import JobRequest, Owner, Submission
from gosandbox.settings import Settings

_FIELD_OF = {CallbackNotAllowed: "callback_url", UnknownToolchain: "language_id"}
Item = tuple[JobRequest, str | None]


def add_judge0_routes(app: FastAPI, routes: RouteContext) -> None:
    """Mount the Judge0 API at ``/judge0`` (one call from :func:`gosandbox.app.create_app`)."""
    router = APIRouter(prefix="/judge0", tags=["Judge0 compatibility"])
    _add_info_routes(router, routes.settings)
    _add_language_routes(router, routes.service)
    _add_submission_routes(router, Judge0Api(routes.settings, routes.service, routes.shutdown, routes.parsing))
    app.include_router(router)
    app.add_exception_handler(Judge0Rejected, _rejected)  # type: ignore[arg-type]


async def _rejected(_: Request, exc: Judge0Rejected) -> JSONResponse:
    return JSONResponse(exc.body, status_code=exc.status_code)


def _not_found() -> Judge0Rejected:
    return Judge0Rejected(404, {"error": "submission not found"})


async def _languages(service: JobService) -> list[info.Language]:
    try:
        versions = await asyncio.to_thread(service.dispatcher.go_versions)
    except BackendUnavailable:
        versions = []
    return info.languages(versions)


def _add_info_routes(router: APIRouter, settings: Settings) -> None:
    @router.get("/about")
    async def about() -> dict[str, Any]:
        """Judge0's ``/about``: version 1.13.1, the release whose language ids the SDKs know."""
        return info.about()

    @router.get("/version", response_class=PlainTextResponse)
    async def version() -> str:
        return info.JUDGE0_VERSION

    @router.get("/config_info")
    async def config_info() -> dict[str, Any]:
        """This server's limits in Judge0's units, and which of its options are on."""
        return info.config_info(settings)

    @router.get("/statuses")
    async def statuses() -> list[dict[str, Any]]:
        return [status_document(status_id) for status_id in STATUSES]


def _add_language_routes(router: APIRouter, service: JobService) -> None:
    @router.get("/languages")
    async def languages() -> list[dict[str, Any]]:
        """Id 60: Go on the default toolchain; then one id per extra toolchain."""
        return [language.summary() for language in await _languages(service)]

    @router.get("/languages/all")
    async def all_languages() -> list[dict[str, Any]]:
        return [{**language.summary(), "is_archived": False} for language in await _languages(service)]

    @router.get("/languages/{language_id}")
    async def language(language_id: int) -> dict[str, Any]:
        for found in await _languages(service):
            if found.id == language_id:
                return found.detail()
        raise Judge0Rejected(404, {"error": f"language with id {language_id} doesn't exist"})


class Judge0Api:
    """The submission routes' work: each method is one route, on our job service."""

    def __init__(self, settings: Settings, service: JobService, shutdown: Shutdown, parsing: ParsingGate) -> None:
        self.settings, self.service, self.shutdown, self.parsing = settings, service, shutdown, parsing

    async def _parsed(self, request: Request, prepare: Any) -> Any:
        form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        return await self.parsing.parse(
            request, self.settings.max_body_bytes, lambda body: prepare(read_body(body, form))
        )

    async def create(self, request: Request, encoded: bool, wait: bool, fields: tuple[str, ...]) -> JSONResponse:
        offered = await _languages(self.service)
        job, callback = await self._parsed(request, lambda raw: submission_job(raw, encoded, self.settings, offered))
        owner = current_owner()
        try:
            submission, _ = await asyncio.to_thread(
                lambda: self.service.submit(job, owner=owner, callback_url=callback)
            )
        except (CallbackNotAllowed, UnknownToolchain) as exc:
            raise invalid({_FIELD_OF[type(exc)]: [str(exc)]}) from None
        if not wait:
            return JSONResponse({"token": to_token(submission.id)}, status_code=201)
        with contextlib.suppress(StoppingNow):  # stopping now: answer with the submission as it stands
            await self.shutdown.race(self.service.wait(submission.id, self.settings.longest_job_s()))
        return JSONResponse(render(await self._full(submission.id), fields, encoded), status_code=201)

    async def _full(self, submission_id: str, viewer: Owner | None = None) -> Submission:
        return await asyncio.to_thread(lambda: self.service.get(submission_id, viewer=viewer, with_events=True))

    async def show(self, token: str, encoded: bool, fields: tuple[str, ...]) -> dict[str, Any]:
        """The caller's submission of this token; another key's is not found, as an unknown one."""
        return await self._shown(token, encoded, fields, current_owner())

    async def _shown(self, token: str, encoded: bool, fields: tuple[str, ...], viewer: Owner) -> dict[str, Any]:
        submission_id = from_token(token)
        if submission_id is None:
            raise _not_found()
        try:
            submission = await self._full(submission_id, viewer)
        except SubmissionNotFound:
            raise _not_found() from None
        return await asyncio.to_thread(render, submission, fields, encoded)

    async def create_batch(self, request: Request, encoded: bool) -> JSONResponse:
        offered = await _languages(self.service)
        items = await self._parsed(
            request, lambda raw: [_item(r, encoded, self.settings, offered) for r in batch_items(raw)]
        )
        checked = await asyncio.to_thread(lambda: [self._checked(item) for item in items])
        accepted = [item for item in checked if isinstance(item, tuple)]
        submissions = iter(await self._submit_many(accepted) if accepted else [])
        answer = [{"token": to_token(next(submissions).id)} if isinstance(item, tuple) else item for item in checked]
        return JSONResponse(answer, status_code=201 if accepted else 422)

    async def _submit_many(self, accepted: list[Item]) -> list[Submission]:
        owner, charge = current_owner(), batch_charge()
        return await asyncio.to_thread(lambda: self.service.submit_many(accepted, owner=owner, charge=charge))

    def _checked(self, item: Item | dict[str, Any]) -> Item | dict[str, Any]:
        """A parsed item the service would take, or Judge0's errors for it (what ``submit`` would refuse)."""
        if not isinstance(item, tuple):
            return item
        try:
            self.service.check(item[0], item[1])
        except (CallbackNotAllowed, UnknownToolchain) as exc:
            return {_FIELD_OF[type(exc)]: [str(exc)]}
        return item

    async def show_batch(self, tokens: str, encoded: bool, fields: tuple[str, ...]) -> Response:
        """``{"submissions": [...]}`` of each distinct token (a dashed and a bare one are the same), streamed."""
        asked = [token.strip() for token in tokens.strip().split(",") if token.strip()]
        if len(asked) > info.MAX_BATCH:
            raise Judge0Rejected(400, {"error": "number of submissions in a batch should be less than or equal to "
                                                f"{info.MAX_BATCH}"})  # fmt: skip
        if not asked:
            raise Judge0Rejected(400, {"error": "there should be at least one submission in a batch"})
        distinct = list(dict.fromkeys(from_token(token) or token for token in asked))
        viewer = current_owner()
        first = await self._batch_item(distinct[0], encoded, fields, viewer)  # a store outage: a 503, not a cut body
        return StreamingResponse(self._batch(first, distinct[1:], encoded, fields, viewer),
                                 media_type="application/json")  # fmt: skip

    async def _batch(self, first: bytes, rest: list[str], encoded: bool, fields: tuple[str, ...],
                     viewer: Owner) -> AsyncIterator[bytes]:  # fmt: skip
        yield b'{"submissions":[' + first
        for token in rest:
            yield b"," + await self._batch_item(token, encoded, fields, viewer)
        yield b"]}"

    async def _batch_item(self, token: str, encoded: bool, fields: tuple[str, ...], viewer: Owner) -> bytes:
        try:
            shown: dict[str, Any] | None = await self._shown(token, encoded, fields, viewer)
        except Judge0Rejected:
            shown = None
        return json_text(shown).encode()

    async def delete(self, token: str, fields: tuple[str, ...]) -> dict[str, Any]:
        """The caller's finished submission is deleted; a queued or running one is cancelled (and kept, as
        cancelled). Another key's is not found, as an unknown one: nothing is done to it."""
        submission_id, viewer = from_token(token), current_owner()
        if submission_id is None:
            raise _not_found()
        try:
            submission = await asyncio.to_thread(lambda: self.service.delete(submission_id, viewer=viewer))
        except SubmissionNotFound:
            raise _not_found() from None
        return render(submission, fields, True)  # as Judge0: Base64 whatever was asked


def _item(raw: Any, encoded: bool, settings: Settings, offered: list[info.Language]) -> Item | dict[str, Any]:
    """One item of a batch: a job, or the errors that refuse it alone (Judge0 saves the others)."""
    try:
        return submission_job(raw, encoded, settings, offered)
    except Judge0Rejected as exc:
        return exc.body if isinstance(exc.body, dict) else {"error": str(exc.body)}


def _flag(value: str | None) -> bool:
    return value == "true"


def _add_submission_routes(router: APIRouter, api: Judge0Api) -> None:
    @router.post("/submissions", status_code=201)
    async def create(request: Request, base64_encoded: str | None = None, wait: str | None = None,
                     fields: str | None = None) -> JSONResponse:  # fmt: skip
        """Judge0's create: ``{"token"}`` at once, or with ``wait=true`` the submission once it ran."""
        return await api.create(request, _flag(base64_encoded), _flag(wait), requested_fields(fields))

    @router.post("/submissions/batch", status_code=201)
    async def create_batch(request: Request, base64_encoded: str | None = None) -> JSONResponse:
        """Up to 20 submissions: a token for each one taken, Judge0's errors for each one refused."""
        return await api.create_batch(request, _flag(base64_encoded))

    @router.get("/submissions/batch")
    async def show_batch(request: Request, tokens: str | None = Query(None), base64_encoded: str | None = None,
                         fields: str | None = None) -> Response:  # fmt: skip
        """The submissions of these comma-separated tokens, each once, in that order; ``null`` for an unknown one."""
        asked = request.headers.get("tokens") or tokens or ""
        return await api.show_batch(asked, _flag(base64_encoded), requested_fields(fields))

    @router.get("/submissions/{token}")
    async def show(token: str, base64_encoded: str | None = None, fields: str | None = None) -> dict[str, Any]:
        return await api.show(token, _flag(base64_encoded), requested_fields(fields))

    @router.delete("/submissions/{token}")
    async def delete(token: str, fields: str | None = None) -> dict[str, Any]:
        return await api.delete(token, requested_fields(fields))

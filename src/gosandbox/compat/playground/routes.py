"""The Go Playground's API: ``POST /compile``, ``/fmt`` (its form), ``/share``, ``GET /p/{id}.go``, ``/version``.

Requests as the Playground's front end sends them (``playground.js``: a form ``version=2&body=...&withVet=true``,
or JSON ``{"Body", "WithVet"}``, field names matched without case as Go's decoder does) become our jobs; the
program is ``prog.go``, or a txtar archive whose text before the first ``-- name --`` line is ``prog.go``.
A ``prog.go`` in package main with tests, fuzz tests or examples and no ``main`` runs as the Playground runs
it: renamed ``prog_test.go`` and tested. Vet runs after a build that succeeded, as there.

Not as there: ``imports`` in ``/fmt`` formats without fixing imports (no goimports in our builder);
``Delay`` is always 0 (real time, not the Playground's fake clock); the body cap is ``GOSANDBOX_MAX_BODY_BYTES``;
a share is its API key's (another key gets 404), expires (``GOSANDBOX_SHARE_TTL_S``), counts against the
key's storage quota, and its owner may delete it (``DELETE /p/{id}``, 204).
A body the Playground would refuse as a program (a bad archive, a file name we do not accept) is its
``Errors``, as there; a malformed request is a 400 problem, a body above the cap 413, a busy server 429.
The answers are in :mod:`gosandbox.compat.playground.results`.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from gosandbox.auth.context import current_owner, request_defaults
from gosandbox.compat.finish import run_to_end
from gosandbox.compat.playground.results import (
    PROG,
    PROG_TEST,
    build_failed,
    built,
    fmt_response,
    run_response,
    test_response,
    vet_fields,
)
from gosandbox.edge.context import RouteContext
from gosandbox.edge.cors import allow_cors
from gosandbox.edge.problems import problem_response
from gosandbox.edge.requests import FORM, check_json_size, content_type
from gosandbox.edge.waiting import Unfinished
from gosandbox.errors import InvalidRequest, InvalidSource
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.problems import share_not_found
from gosandbox.settings import Settings
from gosandbox.source import make_spec
from gosandbox.txtar import looks_like_txtar, parse_txtar

#: What Go's strconv.ParseBool reads as true (the form's ``withVet``).
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_MAX_FORM_FIELDS = 100
_EXPLICIT_PROG = re.compile(rf"(?m)^-- {re.escape(PROG)} --\r?$")
_PACKAGE_MAIN = re.compile(r"(?m)^package\s+main\b")
_MAIN_FUNC = re.compile(r"(?m)^func\s+main\s*\(")
_TEST_FUNC = re.compile(r"(?m)^func\s+(?:Test|Fuzz)(?![a-z])\w*\s*\(\s*(?:\w+\s+)?\*(?:\w+\.)?[TFM]\s*\)")
_EXAMPLE_FUNC = re.compile(r"(?m)^func\s+Example(?![a-z])\w*\s*\(\s*\)")
_SHARE_PATH = re.compile(r"^(?P<id>[0-9A-Za-z]{1,64})(?P<ext>\.go|\.txtar)?$")


# --- requests -------------------------------------------------------------------------------------


def form_fields(body: bytes) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` fields (the first of each name)."""
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"the form is not valid UTF-8 form encoding: {str(exc)[:80]}") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def json_fields(body: bytes) -> dict[str, Any]:
    """A JSON object with its keys lower-cased (Go's decoder matches ``Body`` and ``body`` alike)."""
    check_json_size(body)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidRequest('the body is neither a form (body=...) nor JSON ({"Body": ...})') from None
    if not isinstance(value, dict):
        raise InvalidRequest('the JSON body must be an object: {"Body": "package main ...", "WithVet": true}')
    return {str(key).lower(): item for key, item in value.items()}


@dataclass(frozen=True)
class CompileRequest:
    body: str
    with_vet: bool


def compile_request(body: bytes, kind: str) -> CompileRequest:
    """The form's ``body`` and ``withVet``, or JSON ``Body`` and ``WithVet`` (any other type is read as JSON)."""
    if kind == FORM:
        fields = form_fields(body)
        if not fields.get("body"):
            raise InvalidRequest("the form has no body field: send body=<the program>")
        return CompileRequest(fields["body"], fields.get("withVet", "") in _TRUE)
    fields_ = json_fields(body)
    program, with_vet = fields_.get("body", ""), fields_.get("withvet", False)
    if not isinstance(program, str) or not isinstance(with_vet, bool):
        raise InvalidRequest("Body must be a string and WithVet a boolean")
    return CompileRequest(program, with_vet)


def program_files(text: str) -> tuple[dict[str, str], bool]:
    """The files of a Playground body, and whether prog.go came without a header line (as plain text)."""
    if not looks_like_txtar(text):
        return {PROG: text}, True
    files = parse_txtar(text, preamble=PROG)
    return files, PROG in files and not _EXPLICIT_PROG.search(text)


def is_test_program(source: str) -> bool:
    """Package main, no ``func main``, and a test, fuzz test or example: the Playground runs it as a test."""
    if not _PACKAGE_MAIN.search(source) or _MAIN_FUNC.search(source):
        return False
    return bool(_TEST_FUNC.search(source) or _EXAMPLE_FUNC.search(source))


@dataclass(frozen=True)
class CompilePlan:
    job: JobRequest
    vet: JobRequest | None  # with WithVet
    is_test: bool  # prog.go was renamed prog_test.go and is tested


def plan_compile(body: bytes, kind: str, settings: Settings) -> CompilePlan:
    request = compile_request(body, kind)
    files, _ = program_files(request.body)
    is_test = PROG in files and is_test_program(files[PROG])
    if is_test:
        files[PROG_TEST] = files.pop(PROG)
    spec = make_spec(files, limits=request_defaults(settings))
    job = JobRequest(Kind.TEST if is_test else Kind.RUN, spec)
    return CompilePlan(job, JobRequest(Kind.VET, make_spec(files)) if request.with_vet else None, is_test)


def plan_fmt(body: bytes) -> tuple[JobRequest, dict[str, str], bool]:
    """The form's ``body`` (``imports`` is read as a plain format) as a fmt job of its files."""
    files, implicit = program_files(form_fields(body).get("body", ""))
    if not any(name.endswith(".go") for name in files):
        raise InvalidSource("the body holds no Go file")
    return JobRequest(Kind.FMT, make_spec(files), sent_files=tuple(sorted(files))), files, implicit


# --- routes ---------------------------------------------------------------------------------------


async def compile_program(request: Request, context: RouteContext) -> Response:
    """POST /compile: build and run (or test) prog.go, vet it if asked; the Playground's response."""
    kind = content_type(request)
    try:
        plan = await context.parsing.parse(request, context.settings.max_body_bytes,
                                           lambda body: plan_compile(body, kind, context.settings))  # fmt: skip
    except InvalidSource as exc:
        return JSONResponse(build_failed(str(exc)))
    try:
        ran = await run_to_end(request, context.service, plan.job, context.shutdown, in_order=not plan.is_test)
        answer = test_response(ran.result) if plan.is_test else run_response(ran.result, ran.chunks)
        if plan.vet is not None and built(answer):
            vetted = await run_to_end(request, context.service, plan.vet, context.shutdown)
            answer |= vet_fields(vetted.result, plan.is_test)
    except Unfinished as exc:
        return problem_response(exc.problem, exc.headers)
    return JSONResponse(answer)


async def playground_fmt(request: Request, context: RouteContext) -> Response:
    """POST /fmt as a form (``body``, ``imports``): ``{Body, Error}``. The JSON /fmt is the native one."""
    try:
        job, files, implicit = await context.parsing.parse(request, context.settings.max_body_bytes, plan_fmt)
    except InvalidSource as exc:
        return JSONResponse({"Body": "", "Error": str(exc)})
    try:
        formatted = await run_to_end(request, context.service, job, context.shutdown)
    except Unfinished as exc:
        return problem_response(exc.problem, exc.headers)
    return JSONResponse(fmt_response(formatted.result, files, implicit))


def _not_shared() -> Response:
    return problem_response(share_not_found())


#: The web page that shows a shared program (``/p/{id}`` with no extension), given the request and the id.
SharePage = Callable[[Request, str], Awaitable[Response]]


def add_playground_routes(app: FastAPI, context: RouteContext, share_page: SharePage) -> None:
    """The Playground's routes, with CORS; ``/p/{id}`` (no extension) answers with ``share_page``.

    ``/fmt``'s form is answered by :func:`playground_fmt`, which the native ``/fmt`` dispatches to.
    """
    allow_cors(app, context.settings, "/compile", "/fmt", "/share", "/p/", "/version")

    @app.post("/compile", tags=["Go Playground"])
    async def compile_(request: Request) -> Response:
        """The Go Playground's /compile (a form or JSON): ``{Errors, Events, Status, IsTest, TestsFailed, VetOK}``."""
        return await compile_program(request, context)

    _add_share_routes(app, context, share_page)


def _add_share_routes(app: FastAPI, context: RouteContext, share_page: SharePage) -> None:
    """``/share`` (POST a program, GET one by ``?id=``), ``/p/{id}`` (GET it, DELETE it): the caller's own shares."""
    settings, parsing, service = context.settings, context.parsing, context.service

    @app.post("/share", tags=["Go Playground"], response_class=PlainTextResponse)
    async def share(request: Request) -> Response:
        """Store the body (the program, raw) and answer its id as text; the same program gives the same id."""
        body = await parsing.parse(request, settings.max_body_bytes, bytes)
        owner = current_owner()
        return PlainTextResponse(await asyncio.to_thread(service.share, body, owner))

    @app.get("/share", tags=["Go Playground"], response_class=PlainTextResponse)
    async def shared_by_query(share_id: str = Query(alias="id", max_length=64)) -> Response:
        """The shared program as text (go.dev's front end loads it so)."""
        return await _raw(service, share_id, None)

    @app.get("/p/{name}", tags=["Go Playground"], response_class=PlainTextResponse)
    async def shared(request: Request, name: str, download: bool = False) -> Response:
        """``/p/{id}.go`` and ``/p/{id}.txtar``: the shared program as text; ``/p/{id}``: the playground showing it."""
        match = _SHARE_PATH.match(name)
        if match is None:
            return _not_shared()
        if match["ext"] is None and not download:
            return await share_page(request, match["id"])
        filename = match["id"] + (match["ext"] or ".go") if download else None
        return await _raw(service, match["id"], filename)

    @app.delete("/p/{name}", tags=["Go Playground"], status_code=204)
    async def unshare(name: str) -> Response:
        """Delete a program the caller shared (``/p/{id}``, with or without ``.go``/``.txtar``); 404 otherwise."""
        match, viewer = _SHARE_PATH.match(name), current_owner()
        if match is None or not await asyncio.to_thread(service.shares.delete, match["id"], viewer):
            return _not_shared()
        return Response(status_code=204)


async def _raw(service: JobService, share_id: str, filename: str | None) -> Response:
    viewer = current_owner()
    body = await asyncio.to_thread(service.shares.get, share_id, viewer)
    if body is None:
        return _not_shared()
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else None
    return PlainTextResponse(body, headers=headers)

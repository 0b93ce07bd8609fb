"""Codapi under ``/v1``: ``POST /v1/exec``, for the ``@antonz/codapi`` widget and Codapi's other clients.

The request is Codapi's ``{sandbox, version?, command, files}``: sandbox ``go``, command ``run`` or
``test``, ``files[""]`` the snippet (``main.go`` for ``run``, ``main_test.go`` for ``test``) and any other
name a file beside it. The answer is ``{id, ok, duration, stdout, stderr}``, written as Codapi writes it:
a program that fails answers ``ok: false`` with all its output in ``stderr`` followed by why, in
parentheses (``... (exit status 1)``, or our one-sentence ``message``); a compile error answers the
compiler's messages there. Errors have the same shape (``ok: false``, the reason in ``stderr``) and
Codapi's statuses: 404 for an unknown sandbox or command, 400 for a bad request, 413 too large,
429 busy. ``version`` names a toolchain (``1.27.3`` or ``go1.27.3``). The limits are the server's
defaults (Codapi's request has none). CORS is on for ``/v1/exec``
(``GOSANDBOX_CORS_ORIGINS``). The job runs as every other (queue, limits, API keys).

Mounted by ``add_codapi_routes(app, routes)`` in the app factory.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gosandbox.auth.context import request_defaults
from gosandbox.compat.finish import run_to_end
from gosandbox.edge.context import RouteContext
from gosandbox.edge.cors import allow_cors
from gosandbox.edge.requests import check_json_size
from gosandbox.edge.waiting import Unfinished
from gosandbox.errors import GosandboxError, InvalidRequest
from gosandbox.gotest import TestOptions
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.settings import Settings
from gosandbox.source import make_spec

SANDBOX = "go"
#: Where ``files[""]`` goes, by command.
ENTRY = {"run": "main.go", "test": "main_test.go"}
#: Statuses that keep their code; every other 4xx is a 400 (Codapi's code for a bad request).
_KEPT = (401, 403, 404, 413, 429)


class UnknownName(InvalidRequest):
    """An unknown sandbox or command: Codapi answers 404."""


@dataclass(frozen=True)
class CodapiJob:
    id: str  # Codapi's execution id: go_run_1a2b3c4d, go.1.27.3_test_…
    job: JobRequest


def exec_job(body: bytes, settings: Settings) -> CodapiJob:
    """The job of a ``/v1/exec`` body; :class:`InvalidRequest` (or :class:`UnknownName`) in Codapi's words."""
    fields = _json_object(body)
    sandbox, command, version = (str(fields.get(k) or "") for k in ("sandbox", "command", "version"))
    if sandbox != SANDBOX:
        raise UnknownName("unknown sandbox")
    if command not in ENTRY:
        raise UnknownName("unknown command")
    files = _files(fields.get("files"), ENTRY[command])
    toolchain = None if not version else version if version.startswith("go") else f"go{version}"
    spec = make_spec(files, limits=request_defaults(settings), go_version=toolchain)
    job = JobRequest(Kind.RUN, spec) if command == "run" else JobRequest(Kind.TEST, spec, TestOptions())
    return CodapiJob(execution_id(sandbox, version, command), job)


def execution_id(sandbox: str, version: str, command: str) -> str:
    """Codapi's id: ``<sandbox>[.<version>]_<command>_<8 random characters>``."""
    return f"{sandbox}{'.' + version if version else ''}_{command}_{secrets.token_hex(4)}"


def _json_object(body: bytes) -> dict[str, Any]:
    check_json_size(body)
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(str(exc)[:200]) from None
    if not isinstance(fields, dict):
        raise InvalidRequest("the body must be a JSON object")
    return fields


def _files(value: Any, entry: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        raise InvalidRequest("files must be an object of file names and their contents")
    if len(value) < 2 and not "".join(value.values()).strip():
        raise InvalidRequest("empty request")
    return {(name or entry): text for name, text in value.items()}


# --- the answer ---------------------------------------------------------------------------------


def execution(execution_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """Our result (a run's or a test's) as Codapi's execution."""
    duration = int(result["timings_ms"]["total"])
    if "tests" in result:
        stdout, stderr, ok = test_output(result), str(result.get("stderr", "")), result["status"] == "ok"
        ok = ok and bool(result.get("passed"))
    else:
        stdout, stderr, ok = str(result["stdout"]), str(result["stderr"]), result["status"] == "ok"
    if result["status"] == "compile_error":
        stdout, stderr = "", str(result.get("compile_output", ""))
    elif not ok:  # as Codapi: the output moves to stderr, followed by why
        combined, reason = stdout + stderr, _reason(result)
        stdout, stderr = "", f"{combined} ({reason})" if combined else reason
    return {"id": execution_id, "ok": ok, "duration": duration, "stdout": stdout, "stderr": stderr}


def _reason(result: dict[str, Any]) -> str:
    """Go's words for a plain non-zero exit, as Codapi shows them; our message for anything else."""
    code, signal = result.get("exit_code"), result.get("signal")
    if result["status"] == "runtime_error" and code not in (None, 0) and signal is None:
        return f"exit status {code}"
    return str(result.get("message") or ("tests failed" if "tests" in result else result["status"]))


def test_output(result: dict[str, Any]) -> str:
    """What ``go test -v`` prints: each test's run line, output and verdict, then the package's output."""
    lines = []
    for case in result.get("tests", []):
        verdict = str(case.get("result", "")).upper()
        lines.append(f"=== RUN   {case['name']}\n{case.get('output', '')}")
        if verdict in ("PASS", "FAIL", "SKIP"):
            lines.append(f"--- {verdict}: {case['name']} ({float(case.get('elapsed_s', 0)):.2f}s)\n")
    lines.append(str(result.get("output", "")))
    lines.append("PASS\n" if result.get("passed") else "FAIL\n")
    return "".join(lines)


def failure(execution_id: str, status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error as Codapi answers it: an execution that is not ok, the reason in ``stderr``."""
    if 400 <= status < 500 and status not in _KEPT:
        status = 400
    body = {"id": execution_id, "ok": False, "duration": 0, "stdout": "", "stderr": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def _refused(exc: GosandboxError) -> JSONResponse:
    if isinstance(exc, UnknownName):
        return failure("-", 404, str(exc))
    unfinished = Unfinished.of(exc)
    return failure("-", unfinished.status, unfinished.detail, unfinished.headers)


def add_codapi_routes(app: FastAPI, routes: RouteContext) -> None:
    settings, service, shutdown, parsing = routes.settings, routes.service, routes.shutdown, routes.parsing
    allow_cors(app, settings, "/v1/exec")  # the widget runs in pages on other origins, as Codapi's server allows

    @app.post("/v1/exec", tags=["Codapi"])
    async def codapi_exec(request: Request) -> JSONResponse:
        """Codapi's exec: ``{sandbox: "go", version?, command: "run" | "test", files: {"": code, ...}}``."""
        try:
            codapi = await parsing.parse(request, settings.max_body_bytes, lambda body: exec_job(body, settings))
        except GosandboxError as exc:
            return _refused(exc)
        try:
            finished = await run_to_end(request, service, codapi.job, shutdown)
        except GosandboxError as exc:  # JobFailed too: Codapi answers an engine failure 500
            unfinished = Unfinished.of(exc)
            return failure(codapi.id, unfinished.status, unfinished.detail, unfinished.headers)
        except Unfinished as unfinished:
            return failure(codapi.id, unfinished.status, unfinished.detail, unfinished.headers)
        return JSONResponse(execution(codapi.id, finished.result))

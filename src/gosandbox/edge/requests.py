"""Request bodies into validated specs: size cap, media type, JSON or plain text, txtar, limits."""

from __future__ import annotations

import re
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from gosandbox.auth.context import request_defaults, request_limits
from gosandbox.edge.judge import JudgeRequest, JudgeSubmission, judge_task
from gosandbox.edge.schemas import (
    FmtSubmission,
    RunRequest,
    RunSubmission,
    SourceRequest,
    SubmissionHead,
    TestRequest,
    TestSubmission,
    VetSubmission,
)
from gosandbox.errors import InvalidRequest, InvalidSource, PayloadTooLarge, UnsupportedMediaType
from gosandbox.gotest import TestOptions
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.models import RunSpec
from gosandbox.settings import Settings
from gosandbox.source import make_spec, utf8_bytes, with_race
from gosandbox.txtar import looks_like_txtar, parse_txtar

Model = TypeVar("Model", bound=BaseModel)
Package = TypeVar("Package", bound=SourceRequest)

#: The most keys, array items and strings one JSON body may hold (each ``"string"``, ``[``, ``{``, ``,``
#: and ``:`` counts one); past it the body is refused before pydantic sees it. What costs memory is
#: pydantic's errors, about 1 KB each (one per unknown key or wrong item): a 1 MiB object of 131 000
#: unknown keys took +125 MB and 0.6 s holding the GIL; at this ceiling the worst body costs ~30 MB
#: and 0.15 s, and the slots of :mod:`gosandbox.edge.parsing` bound how many run at once. The largest
#: valid request needs about 1 300 (256 files, 64 arguments, 5 limits); a package of 10 000 files
#: (40 000) still passes, to be told precisely that it sent too many files. A batch (up to 100 bodies)
#: is held to the same ceiling as a whole.
MAX_JSON_TOKENS = 64 * 1024
#: A JSON string (an unterminated one runs to the end: every match attempt succeeds, so the scan
#: is linear whatever the bytes) or one of the punctuation marks counted.
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[\[{,:]', re.DOTALL)


def check_headers(request: Request, cap_bytes: int) -> int | None:
    """The body's declared length (None: not declared); 413 or 415 from the headers alone."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap_bytes:
        raise PayloadTooLarge(f"the body holds {declared} bytes; at most {cap_bytes} are allowed")
    if request.headers.get("content-encoding", "identity").lower() != "identity":
        raise UnsupportedMediaType("compressed request bodies are not accepted; send it uncompressed")
    return int(declared) if declared is not None and declared.isdigit() else None


def check_json_size(body: bytes, most: int = MAX_JSON_TOKENS) -> None:
    """Refuse a body of more than ``most`` JSON tokens; stops counting there (a few ms at most)."""
    for count, _ in enumerate(_TOKEN.finditer(body), 1):
        if count > most:
            raise InvalidSource(
                f"the JSON body holds more than {most} keys, array items and strings; a valid request has far "
                "fewer (at most 256 files, 64 arguments, the 5 limits)"
            )


def _location(loc: tuple[int | str, ...]) -> str:
    """Where in the body an error is, with client-chosen names shortened."""
    return ".".join(str(part) if len(str(part)) <= 40 else str(part)[:36] + "…" for part in loc) or "body"


def parse_json(body: bytes, model: type[Model]) -> Model:
    check_json_size(body)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors[:10])
        raise InvalidSource(f"invalid JSON request: {problems}"[:2000]) from None


def _plain_text_files(body: bytes) -> dict[str, str]:
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the body is not valid UTF-8 (byte {exc.start})") from None
    return parse_txtar(source) if looks_like_txtar(source) else {"main.go": source}


FORM = "application/x-www-form-urlencoded"


def content_type(request: Request) -> str:
    """The request's media type, lower-case, without its parameters ('' when it names none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_form(request: Request) -> bool:
    """An HTML form's body (the Go Playground's front end posts /compile and /fmt so)."""
    return content_type(request) == FORM


def media_type(request: Request) -> str:
    """``application/json``, ``text/plain`` (an absent type counts as JSON), or 415."""
    value = content_type(request)
    if value in ("application/json", ""):
        return "application/json"
    if value == "text/plain":
        return value
    raise UnsupportedMediaType(f"media type {value[:60]!r} is not supported; use application/json or text/plain")


def run_spec(
    body: bytes, kind: str, settings: Settings, default_program: str, model: type[RunRequest] = RunRequest
) -> RunSpec:
    """POST /run: JSON, plain text (main.go or txtar), or nothing (``default_program``)."""
    if not body.strip():
        return make_spec({"main.go": default_program}, limits=request_defaults(settings))
    if kind == "text/plain":
        return make_spec(_plain_text_files(body), limits=request_defaults(settings))
    parsed = parse_json(body, model)
    limits = request_limits(settings, parsed.limits.overrides() if parsed.limits else {})
    stdin = utf8_bytes(parsed.stdin, "stdin")
    spec = make_spec(parsed.file_map(), stdin=stdin, args=parsed.args, limits=limits, go_version=parsed.go_version)
    return with_race(spec, parsed.race)


def go_test_spec(
    body: bytes, kind: str, settings: Settings, model: type[TestRequest] = TestRequest
) -> tuple[RunSpec, TestOptions]:
    """POST /test: the package and the ``go test`` options (checked by :func:`gosandbox.go_tools.run_tests`)."""
    parsed, files = package_request(body, kind, model)
    if parsed is None:
        return make_spec(files, limits=request_defaults(settings)), TestOptions()
    limits = request_limits(settings, parsed.limits.overrides() if parsed.limits else {})
    return with_race(make_spec(files, limits=limits, go_version=parsed.go_version), parsed.race), parsed.options()


def source_spec(body: bytes, kind: str, model: type[SourceRequest] = SourceRequest) -> tuple[RunSpec, dict[str, str]]:
    """POST /vet, /fmt: the package, and the files as sent (fmt answers with those only)."""
    parsed, files = package_request(body, kind, model)
    return make_spec(files, go_version=parsed.go_version if parsed else None), files


def package_request(body: bytes, kind: str, model: type[Package]) -> tuple[Package | None, dict[str, str]]:
    """POST /test, /vet, /fmt: the parsed JSON (None for plain text) and the package's files."""
    if not body.strip():
        raise InvalidSource("send a package: JSON with code, files or txtar, or main.go as text/plain")
    if kind == "text/plain":
        return None, _plain_text_files(body)
    parsed = parse_json(body, model)
    return parsed, parsed.file_map()


# --- the same requests as jobs ------------------------------------------------------------------


def run_job(body: bytes, kind: str, settings: Settings, default_program: str,
            model: type[RunRequest] = RunRequest) -> JobRequest:  # fmt: skip
    spec = run_spec(body, kind, settings, default_program, model)
    return JobRequest(Kind.RUN, spec, default_program=not body.strip())


def go_test_job(body: bytes, kind: str, settings: Settings, model: type[TestRequest] = TestRequest) -> JobRequest:
    spec, options = go_test_spec(body, kind, settings, model)
    return JobRequest(Kind.TEST, spec, options)


def vet_job(body: bytes, kind: str, model: type[SourceRequest] = SourceRequest) -> JobRequest:
    return JobRequest(Kind.VET, source_spec(body, kind, model)[0])


def fmt_job(body: bytes, kind: str, model: type[SourceRequest] = SourceRequest) -> JobRequest:
    spec, sent = source_spec(body, kind, model)
    return JobRequest(Kind.FMT, spec, sent_files=tuple(sorted(sent)))


def judge_job(body: bytes, settings: Settings, model: type[JudgeRequest] = JudgeRequest) -> JobRequest:
    """POST /judge (JSON only): the job that judges the program on its cases."""
    if not body.strip():
        raise InvalidSource("send a judging: JSON with code or files, and cases")
    task = judge_task(parse_json(body, model), settings)
    return JobRequest(Kind.JUDGE, task.program, judge=task.to_json())


def submission_job(body: bytes, kind: str, settings: Settings) -> tuple[JobRequest, str | None]:
    """POST /submissions: a /run, /test, /vet, /fmt or /judge body with ``kind`` and ``callback_url``."""
    if not body.strip():
        raise InvalidSource("send a submission: JSON with code, files or txtar (and optionally kind, callback_url)")
    if kind == "text/plain":
        return run_job(body, kind, settings, ""), None
    head = parse_json(body, SubmissionHead)
    if head.kind == "test":
        return go_test_job(body, kind, settings, TestSubmission), head.callback_url
    if head.kind == "vet":
        return vet_job(body, kind, VetSubmission), head.callback_url
    if head.kind == "fmt":
        return fmt_job(body, kind, FmtSubmission), head.callback_url
    if head.kind == "judge":
        return judge_job(body, settings, JudgeSubmission), head.callback_url
    return run_job(body, kind, settings, "", RunSubmission), head.callback_url

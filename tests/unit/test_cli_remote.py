"""The command line on a server (``--server``, ``submit``) through gosandbox.Client, on a mock transport: what it
sends, what it tells the printing as events arrive, how a cut stream resumes, how the job's end becomes an exit
code and the submission's JSON. The real server is in tests/sandbox/test_cli_commands.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import httpx
import pytest

from gosandbox.cli.exits import SERVICE_FAILED, exit_code_for
from gosandbox.cli.remote import ServerTools
from gosandbox.cli.submit import exit_code_of, submission_document
from gosandbox.cli.tools import Live, Request
from gosandbox.client.calls import Retries
from gosandbox.client.http import Client
from gosandbox.client.types import Submission
from gosandbox.errors import InvalidRequest, JobFailed
from gosandbox.gotest import TestOptions
from gosandbox.models import FmtResult, RunResult, Status, TestResult, Timings, VetResult

ID = "a" * 32
RESULT = RunResult(Status.RUNTIME_ERROR, 3, None, "out\n", "err\n", "", False, Timings(1, 2, 3), "go1.27.3")


def _document(state: str = "queued", result: Any = None, error: Any = None, kind: str = "run") -> dict[str, Any]:
    """A submission as the server's ``Submission.public()`` writes it."""
    return {"id": ID, "kind": kind, "state": state, "result": result, "error": error,
            "created_at": "2026-01-02T03:04:05.678Z", "started_at": None, "finished_at": None, "attempts": 0,
            "worker": None, "go_version": None, "callback_url": None, "callback": None,
            "api_key_name": None}  # fmt: skip


def _sse(*events: tuple[str, str, dict[str, Any]]) -> httpx.Response:
    body = "".join(f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n" for event_id, name, data in events)
    return httpx.Response(200, content=body.encode(), headers={"Content-Type": "text/event-stream"})


class Server:
    """Answers POST /submissions with a queued job and each GET of its events with the next stream given."""

    def __init__(self, *streams: httpx.Response) -> None:
        self.streams: Iterator[httpx.Response] = iter(streams)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, json=_document())
        if request.method == "DELETE":
            return httpx.Response(200, json=_document("cancelled"))
        return next(self.streams)

    def tools(self) -> ServerTools:
        transport = httpx.MockTransport(self)
        return ServerTools(Client("http://sandbox.test", "k-1", retries=Retries(attempts=2), transport=transport))


class Heard:
    """A :class:`Live` that records what it was told, in order."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str | bytes]] = []
        self.live = Live(compiled=lambda text: self.said.append(("compiled", text)),
                         output=lambda stream, data: self.said.append((stream, data)))  # fmt: skip


def test_run_is_a_job_whose_events_reach_the_printing_in_order() -> None:
    server = Server(_sse(("1", "state", {"state": "running"}), ("2", "compile", {"succeeded": True, "output": ""}),
                         ("3", "stdout", {"text": "out\n"}), ("4", "stderr", {"text": "err\n"}),
                         ("5", "result", _document("done", asdict(RESULT)))))  # fmt: skip
    heard = Heard()
    request = Request({"main.go": "package main"}, b"Ada\n", ("-n", "3"), {"wall_s": 2}, "go1.27.3")
    result = server.tools().run(request, heard.live)
    assert result == RESULT
    assert heard.said == [("compiled", ""), ("stdout", b"out\n"), ("stderr", b"err\n")]
    sent = json.loads(server.seen[0].content)
    assert sent == {"kind": "run", "files": {"main.go": "package main"}, "stdin": "Ada\n", "args": ["-n", "3"],
                    "limits": {"wall_s": 2}, "go_version": "go1.27.3"}  # fmt: skip
    assert server.seen[0].headers["authorization"] == "Bearer k-1"


def test_a_cut_stream_resumes_after_the_last_event_seen() -> None:
    tested = TestResult(Status.OK, True, [], [], None, "", "", "", [], False, Timings(1, 2, 3), "go1.27.3")
    done = _document("done", asdict(tested), kind="test")
    server = Server(_sse(("1", "stdout", {"text": "\x16=== RUN   TestA\n"})),
                    _sse(("2", "stdout", {"text": "ok\n"}), ("3", "result", done)))  # fmt: skip
    heard = Heard()
    result = server.tools().test(Request({"a_test.go": "package a"}), TestOptions(run="TestA", cover=True), heard.live)
    assert result == tested
    assert [data for _, data in heard.said] == [b"\x16=== RUN   TestA\n", b"ok\n"]
    assert server.seen[2].headers["last-event-id"] == "1"
    sent = json.loads(server.seen[0].content)
    assert (sent["kind"], sent["run"], sent["cover"], sent["fuzztime"]) == ("test", "TestA", True, "5s")
    assert "fuzz" not in sent  # an option left unset is the server's default, not null


def test_a_job_the_service_failed_is_a_service_failure() -> None:
    problem = {"type": "urn:gosandbox:problem:internal-error", "title": "Internal error", "status": 500,
               "detail": "the service failed; see its log"}  # fmt: skip
    server = Server(_sse(("1", "result", _document("failed", error=problem))))
    with pytest.raises(JobFailed, match=f"job {ID} ended failed: Internal error: the service failed"):
        server.tools().run(Request({"main.go": "package main"}), Heard().live)


def test_a_job_left_by_an_interrupt_is_cancelled() -> None:
    server = Server(_sse(("1", "stdout", {"text": "tick\n"})))

    def interrupt(stream: str, data: bytes) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        server.tools().run(Request({"main.go": "package main"}), Live(compiled=print, output=interrupt))
    assert (server.seen[-1].method, server.seen[-1].url.path) == ("DELETE", f"/submissions/{ID}")


def test_stdin_that_is_not_utf8_is_refused_before_anything_is_sent() -> None:
    server = Server()
    with pytest.raises(InvalidRequest, match="UTF-8"):
        server.tools().run(Request({"main.go": "package main"}, stdin=b"\xff"), Heard().live)
    assert server.seen == []


def test_the_submission_prints_as_the_server_wrote_it() -> None:
    problem = {"type": "urn:gosandbox:problem:x", "title": "X", "status": 422, "detail": "d", "errors": [1]}
    for document in (_document("done", asdict(RESULT)), _document("failed", error=problem), _document()):
        shown = submission_document(Submission.from_json(document))
        expected = {key: value for key, value in document.items() if key != "api_key_name"}  # not in the client's type
        assert json.loads(json.dumps(shown)) == expected
        assert list(shown) == list(expected)


def _finished(result: Any, state: str = "done", kind: str = "run") -> Submission:
    return Submission.from_json(_document(state, None if result is None else asdict(result), kind=kind))


TIMINGS = Timings(1, 2, 3)


@pytest.mark.parametrize(
    ("submission", "code"),
    [
        (lambda: _finished(RESULT), 3),
        (lambda: _finished(RunResult(Status.TIMEOUT, None, "SIGKILL", "", "", "", False, TIMINGS, "g")), 124),
        (lambda: _finished(None, "cancelled"), SERVICE_FAILED),
        (lambda: _finished(TestResult(Status.RUNTIME_ERROR, False, [], [], None, "", "", "", [], False, TIMINGS, "g"),
                           kind="test"), 1),
        (lambda: _finished(VetResult(Status.OK, [], "", TIMINGS, "g"), kind="vet"), 0),
        (lambda: _finished(FmtResult(False, {}, ["a.go"], [], "", "g"), kind="fmt"), 1),
    ],
)  # fmt: skip
def test_a_submissions_exit_code(submission: Callable[[], Submission], code: int) -> None:
    assert exit_code_of(submission()) == code


def test_exit_codes_of_verdicts() -> None:
    assert [exit_code_for(status, 7) for status in Status] == [0, 2, 7, 124, 137, 141]

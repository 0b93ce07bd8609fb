"""The HTTP client's own logic on a mock transport: retries and Retry-After, problems as exceptions, results
rebuilt as the library's classes, the event stream's parsing and resumption. Verdicts are tested against a
real server in test_docker_client.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx
import pytest

import gosandbox
from gosandbox.client.calls import Retries
from gosandbox.client.http import AsyncClient, Client
from gosandbox.client.types import Submission, from_json
from gosandbox.diagnostics import Diagnostic
from gosandbox.gotest import Benchmark, TestCase
from gosandbox.jobs.submission import Kind, State
from gosandbox.models import FmtResult, RunResult, Status, TestResult, Timings

RESULT = RunResult(Status.OK, 0, None, "42\n", "", "", False, Timings(10, 5, 20), "go1.27.3", cached=True,
                   diagnostics=[Diagnostic("main.go", 3, 2, "x declared and not used")])  # fmt: skip
FAST = Retries(attempts=3, backoff_s=0.01)

Handler = Callable[[httpx.Request], httpx.Response]


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"type": f"urn:gosandbox:problem:s{status}", "title": f"T{status}", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json", **(headers or {})})


def _client(handler: Handler, retries: Retries = FAST) -> Client:
    return Client("http://sandbox.test", "k-123", retries=retries, transport=httpx.MockTransport(handler))


def _answers(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """A handler that gives these answers in turn, and the requests it saw."""
    seen: list[httpx.Request] = []
    queue = iter(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(queue)

    return handle, seen


def test_run_sends_the_http_apis_fields_and_returns_a_run_result() -> None:
    handle, seen = _answers(httpx.Response(200, json=asdict(RESULT)))
    with _client(handle) as client:
        result = client.run("package main", stdin="in", args=("-v",), limits={"wall_s": 2}, go_version="go1.27")
    assert result == RESULT
    assert isinstance(result.timings_ms, Timings)
    assert isinstance(result.diagnostics[0], Diagnostic)
    assert result.status is Status.OK
    assert json.loads(seen[0].content) == {"code": "package main", "stdin": "in", "args": ["-v"],
                                           "limits": {"wall_s": 2}, "go_version": "go1.27"}  # fmt: skip
    assert (seen[0].method, seen[0].url.path) == ("POST", "/run")
    assert seen[0].headers["authorization"] == "Bearer k-123"


def test_results_of_test_and_fmt_are_rebuilt_with_their_nested_classes() -> None:
    tested = TestResult(Status.RUNTIME_ERROR, False, [TestCase("TestAdd", "calc", "fail", 0.5, "bad\n")],
                        [Benchmark("BenchmarkAdd", 1000, 1.5, "")], 75.0, "", "", "", [], False,
                        Timings(1, 2, 3), "go1.27.3")  # fmt: skip
    formatted = FmtResult(True, {"main.go": "package main\n"}, ["main.go"], [], "", "go1.27.3")
    assert from_json(TestResult, json.loads(json.dumps(asdict(tested)))) == tested
    assert from_json(FmtResult, asdict(formatted)) == formatted
    coverage = from_json(TestResult, {**asdict(tested), "coverage_percent": 75, "added_later": 1}).coverage_percent
    assert (coverage, type(coverage)) == (75.0, float)


def test_a_submission_is_typed_with_its_result_by_kind() -> None:
    document = {"id": "a" * 32, "kind": "run", "state": "done", "result": asdict(RESULT), "error": None,
                "created_at": "2026-12-01T10:00:00.000Z", "started_at": None, "finished_at": None, "attempts": 1,
                "worker": "w1", "go_version": "go1.27.3", "callback_url": None, "callback": None}  # fmt: skip
    submission = Submission.from_json(document)
    assert (submission.kind, submission.state, submission.finished) == (Kind.RUN, State.DONE, True)
    assert submission.result == RESULT
    assert submission.created_at is not None
    assert submission.created_at.tzinfo is not None
    lost = {"type": "t", "title": "Worker lost", "status": 503, "detail": "d"}
    failed = Submission.from_json({**document, "state": "failed", "result": None, "error": lost})
    assert failed.error is not None
    assert (failed.error.status, failed.error.title) == (503, "Worker lost")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, gosandbox.BadRequest), (422, gosandbox.BadRequest), (413, gosandbox.TooLarge),
     (401, gosandbox.AccessDenied), (403, gosandbox.AccessDenied), (404, gosandbox.NotFound),
     (409, gosandbox.Conflict), (429, gosandbox.TooManyRequests), (503, gosandbox.Unavailable),
     (500, gosandbox.ApiError)],
)  # fmt: skip
def test_problems_are_raised_as_typed_exceptions(status: int, cls: type[gosandbox.ApiError]) -> None:
    handle, _ = _answers(*[_problem(status, "what to do")] * 4)
    with _client(handle) as client, pytest.raises(cls) as raised:
        client.get("a" * 32)
    assert type(raised.value) is cls
    assert (raised.value.status, raised.value.title, raised.value.detail) == (status, f"T{status}", "what to do")
    assert raised.value.type == f"urn:gosandbox:problem:s{status}"
    assert raised.value.problem.extra == {}


def test_a_problems_further_members_are_kept() -> None:
    body = {"type": "t", "title": "Invalid request", "status": 422, "detail": "d", "errors": [{"loc": ["body"]}]}
    handle, _ = _answers(httpx.Response(422, json=body))
    with _client(handle) as client, pytest.raises(gosandbox.BadRequest) as raised:
        client.run("package main")
    assert raised.value.problem.extra == {"errors": [{"loc": ["body"]}]}


def test_a_body_that_is_not_a_problem_still_gives_a_typed_error() -> None:
    handle, _ = _answers(httpx.Response(502, text="<html>bad gateway</html>"))
    with _client(handle) as client, pytest.raises(gosandbox.ApiError) as raised:
        client.vet("package main")
    assert (raised.value.status, raised.value.title) == (502, "Bad Gateway")
    assert raised.value.detail == "<html>bad gateway</html>"


def test_503_with_retry_after_is_retried_once_after_waiting_that_long() -> None:
    handle, seen = _answers(_problem(503, "busy", {"Retry-After": "1"}), httpx.Response(200, json=asdict(RESULT)))
    started = time.monotonic()
    with _client(handle) as client:
        assert client.run("package main").stdout == "42\n"
    assert time.monotonic() - started >= 1.0
    assert len(seen) == 2
    assert seen[0].content == seen[1].content  # the same request, sent again


def test_429_past_the_retries_raises_with_retry_after() -> None:
    handle, seen = _answers(*[_problem(429, "queue full", {"Retry-After": "0"})] * 3)
    with _client(handle, Retries(attempts=2)) as client, pytest.raises(gosandbox.TooManyRequests) as raised:
        client.submit("package main")
    assert len(seen) == 3  # the first request and two retries
    assert raised.value.retry_after_s == 0


def test_without_retry_after_the_backoff_doubles_and_a_long_retry_after_is_not_waited() -> None:
    no_header = httpx.Response(503, json={})
    assert [Retries(backoff_s=0.5).delay_s(no_header, n) for n in range(4)] == [0.5, 1.0, 2.0, None]
    long_wait = httpx.Response(429, headers={"Retry-After": "120"})
    assert Retries(max_wait_s=30).delay_s(long_wait, 0) is None
    assert Retries().delay_s(httpx.Response(500), 0) is None  # only 429 and 503 mean "not accepted"


def test_no_answer_is_unreachable_and_a_slow_one_timed_out() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with _client(refuse) as client, pytest.raises(gosandbox.Unreachable) as raised:
        client.fmt("package main")
    assert not isinstance(raised.value, gosandbox.RequestTimedOut)
    with _client(stall) as client, pytest.raises(gosandbox.RequestTimedOut):
        client.fmt("package main")


def _sse(*events: tuple[str, str, dict[str, Any]]) -> bytes:
    text = ": keep-alive\n\n" + "".join(f"id: {i}\nevent: {n}\ndata: {json.dumps(d)}\n\n" for i, n, d in events)
    return text.encode()


def _final() -> dict[str, Any]:
    return {"id": "a" * 32, "kind": "run", "state": "done", "result": asdict(RESULT), "error": None, "attempts": 1}


def test_events_are_parsed_and_a_stream_closed_early_is_resumed_after_its_last_event() -> None:
    first = httpx.Response(200, content=_sse(("1", "state", {"state": "queued"}), ("2", "stdout", {"text": "4"})))
    second = httpx.Response(200, content=_sse(("3", "stdout", {"text": "2\n"}), ("4", "result", _final())))
    handle, seen = _answers(first, second)
    with _client(handle) as client:
        events = list(client.events("a" * 32))
    assert [e.name for e in events] == ["state", "stdout", "stdout", "result"]
    assert "".join(e.text for e in events) == "42\n"
    assert events[-1].submission is not None
    assert events[-1].submission.result == RESULT
    assert "last-event-id" not in seen[0].headers
    assert seen[1].headers["last-event-id"] == "2"


def test_events_end_at_204_and_give_up_on_streams_that_keep_closing_empty() -> None:
    handle, _ = _answers(httpx.Response(204))
    with _client(handle) as client:
        assert list(client.events("a" * 32, last_event_id="9")) == []
    handle, seen = _answers(*[httpx.Response(200, content=b": keep-alive\n\n")] * 5)
    with _client(handle, Retries(attempts=2)) as client, pytest.raises(gosandbox.Unreachable):
        list(client.events("a" * 32))
    assert len(seen) == 3


def test_an_id_cannot_leave_its_path_segment() -> None:
    handle, seen = _answers(_problem(404, "no such submission"))
    with _client(handle) as client, pytest.raises(gosandbox.NotFound):
        client.cancel("../run?x=1")
    assert (seen[0].method, seen[0].url.raw_path) == ("DELETE", b"/submissions/..%2Frun%3Fx%3D1")


def test_the_async_client_retries_and_streams_the_same_way() -> None:
    handle, seen = _answers(_problem(503, "busy", {"Retry-After": "0"}), httpx.Response(200, json=asdict(RESULT)),
                            httpx.Response(200, content=_sse(("1", "result", _final()))))  # fmt: skip

    async def scenario() -> tuple[RunResult, list[str]]:
        async with AsyncClient("http://sandbox.test", retries=FAST, transport=httpx.MockTransport(handle)) as client:
            result = await client.run(files={"main.go": "package main"})
            names = [event.name async for event in client.events("a" * 32)]
        return result, names

    assert asyncio.run(scenario()) == (RESULT, ["result"])
    assert len(seen) == 3
    assert "authorization" not in seen[0].headers


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def test_the_sync_client_sleeps_the_backoff_between_attempts(no_sleep: list[float]) -> None:
    handle, _ = _answers(*[httpx.Response(503, json={})] * 4)
    with _client(handle, Retries(attempts=3, backoff_s=0.5)) as client, pytest.raises(gosandbox.Unavailable):
        client.test("package calc")
    assert no_sleep == [0.5, 1.0, 2.0]

"""The half of the HTTP client that does no I/O: each call as a value, the answer's reading, the retry rule,
the event-stream parser. :class:`~gosandbox.client.http.Client` and :class:`~gosandbox.client.http.AsyncClient` only
send what this builds and sleep when it says so, so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from gosandbox._version import __version__
from gosandbox.client.errors import ApiError, ClientError, Problem, RequestTimedOut, Unreachable, api_error
from gosandbox.client.types import Event, Submission, from_json, request_body
from gosandbox.explain import ExplainResult
from gosandbox.jobs.submission import Kind
from gosandbox.judge.task import JudgeResult
from gosandbox.models import FmtResult, RunResult, TestResult, VetResult

T = TypeVar("T")

#: Longer than a synchronous call can take on a server with default caps (queueing, a 30 s build, a 30 s
#: run), and than the 15 s between an event stream's keep-alives; connecting is quick or not at all.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)

#: The statuses after which the server has not accepted the job: sending the request again cannot run it twice.
RETRIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Retries:
    """How often to send a request again after a ``429`` or ``503``, and how long to wait before each.

    The wait is the answer's ``Retry-After`` (seconds) where it has one, else ``backoff_s * 2**n``
    (0.5, 1, 2 s by default). A wait longer than ``max_wait_s`` is not waited: the error is raised at
    once, carrying ``retry_after_s``. ``Retries(attempts=0)`` turns retrying off.
    """

    attempts: int = 3
    backoff_s: float = 0.5
    max_wait_s: float = 30.0

    def delay_s(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending again after ``response`` (the ``attempt``-th, from 0); None: do not."""
        if response.status_code not in RETRIED_STATUSES or attempt >= self.attempts:
            return None
        delay = retry_after_s(response)
        if delay is None:
            delay = self.backoff_s * 2**attempt
        return delay if delay <= self.max_wait_s else None


DEFAULT_RETRIES = Retries()


def retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (an HTTP date is not used by this server, and is read as none)."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how its successful JSON answer becomes a ``T``."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(
            self.method, self.path, json=self.body, headers=dict(self.headers), params=dict(self.params)
        )


def run(code: str | None, fields: Mapping[str, Any]) -> Call[RunResult]:
    return Call("POST", "/run", _parser(RunResult), request_body(code, fields))


def test(code: str | None, fields: Mapping[str, Any]) -> Call[TestResult]:
    return Call("POST", "/test", _parser(TestResult), request_body(code, fields))


def vet(code: str | None, fields: Mapping[str, Any]) -> Call[VetResult]:
    return Call("POST", "/vet", _parser(VetResult), request_body(code, fields))


def fmt(code: str | None, fields: Mapping[str, Any]) -> Call[FmtResult]:
    return Call("POST", "/fmt", _parser(FmtResult), request_body(code, fields))


def explain(code: str | None, fields: Mapping[str, Any]) -> Call[ExplainResult]:
    return Call("POST", "/explain", _parser(ExplainResult), request_body(code, fields))


def judge(code: str | None, fields: Mapping[str, Any]) -> Call[JudgeResult]:
    return Call("POST", "/judge", _parser(JudgeResult), request_body(code, fields))


@dataclass(frozen=True)
class SubmitOptions:
    """How a submission is sent: its kind, an ``Idempotency-Key``, and ``?wait=`` (seconds, at most 60)."""

    kind: Kind | str = Kind.RUN
    idempotency_key: str | None = None
    wait_s: float | None = None


def submit(code: str | None, fields: Mapping[str, Any], options: SubmitOptions) -> Call[Submission]:
    body = {"kind": Kind(options.kind).value, **request_body(code, fields)}
    headers = {} if options.idempotency_key is None else {"Idempotency-Key": options.idempotency_key}
    params = {} if options.wait_s is None else {"wait": f"{options.wait_s:g}"}
    return Call("POST", "/submissions", Submission.from_json, body, headers, params)


def get(submission_id: str) -> Call[Submission]:
    return Call("GET", f"/submissions/{_segment(submission_id)}", Submission.from_json)


def cancel(submission_id: str) -> Call[Submission]:
    return Call("DELETE", f"/submissions/{_segment(submission_id)}", Submission.from_json)


def events(submission_id: str, last_event_id: str | None) -> Call[None]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return Call("GET", f"/submissions/{_segment(submission_id)}/events", lambda _: None, headers=headers)


def _segment(submission_id: str) -> str:
    """An id as one path segment: whatever it holds, it cannot reach another route."""
    return urllib.parse.quote(submission_id, safe="")


def _parser(cls: type[T]) -> Callable[[Any], T]:
    return lambda data: from_json(cls, data)


def default_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": f"gosandbox-client/{__version__}", "Accept": "application/json"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def checked(response: httpx.Response) -> httpx.Response:
    """A successful answer as it is; any other's problem raised (``response`` must have been read)."""
    if not response.is_success:
        raise error_of(response)
    return response


def value_of(call: Call[T], response: httpx.Response) -> T:
    """What a successful answer's JSON means to ``call``."""
    try:
        data = response.json()
    except ValueError as exc:
        raise ClientError(f"{call.method} {call.path}: the answer is not JSON; is base_url a gosandbox API?") from exc
    return call.parse(data)


def error_of(response: httpx.Response) -> ApiError:
    """The typed exception of a non-2xx answer; a body that is not a problem document still gives one."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        text = response.text.strip()[:200]
        document = {"title": response.reason_phrase, "detail": text or f"HTTP {response.status_code}"}
    return api_error(Problem.from_json(document, response.status_code), retry_after_s(response))


@contextlib.contextmanager
def transport_errors(what: str) -> Iterator[None]:
    """httpx's own failures as the client's: a timeout, or no answer."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RequestTimedOut(f"{what}: no answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise Unreachable(f"{what}: {type(exc).__name__}: {exc}") from exc


class EventParser:
    """Server-Sent Events, a line at a time: an event is complete at its blank line; comments are keep-alives."""

    def __init__(self) -> None:
        self._id, self._name = "", "message"
        self._data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._name = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> Event | None:
        if not self._data:
            self._name = "message"
            return None
        data, name = json.loads("\n".join(self._data)), self._name
        self._name, self._data = "message", []
        return Event.of(self._id, name, data if isinstance(data, dict) else {"value": data})


class Resumption:
    """Where a followed event stream stands, so that a stream the server closed early is opened again.

    The server ends a stream with the job's ``result``; it also closes one after 10 minutes, or when it
    stops: then the client resumes after the last event it saw (``Last-Event-ID``). A stream that closes
    with no new event ``attempts`` times in a row is given up on (:class:`Unreachable`).
    """

    def __init__(self, submission_id: str, last_event_id: str | None, attempts: int) -> None:
        self.submission_id, self.last_event_id, self.attempts = submission_id, last_event_id, attempts
        self.done = False
        self._parser, self._new, self._empty = EventParser(), False, 0

    def call(self) -> Call[None]:
        self._parser, self._new = EventParser(), False
        return events(self.submission_id, self.last_event_id)

    def feed(self, line: str) -> Event | None:
        event = self._parser.feed(line)
        if event is not None:
            self.last_event_id, self._new, self.done = event.id, True, event.name == "result"
        return event

    def closed_early(self) -> None:
        self._empty = 0 if self._new else self._empty + 1
        if self._empty > self.attempts:
            raise Unreachable(f"the event stream of {self.submission_id} closed {self._empty} times with no event")

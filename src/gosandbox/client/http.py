"""A typed Python client of the gosandbox HTTP API, on httpx: :class:`Client` and :class:`AsyncClient`.

Usage::

    with Client("http://127.0.0.1:8080", api_key="...") as sandbox:
        result = sandbox.run('package main\\nimport "fmt"\\nfunc main() { fmt.Println(42) }\\n')
        print(result.status, result.stdout)

Calls take the HTTP API's own fields as keyword arguments (``files=``, ``stdin=``, ``limits={"wall_s": 2}``,
...) and return the library's result classes (:class:`~gosandbox.models.RunResult` and the others). The
program's failures are data (``result.status``); the service's are exceptions
(:mod:`gosandbox.client.errors`).

**Retries.** After a ``429`` or a ``503`` the request is sent again, up to ``Retries.attempts`` times,
after ``Retry-After`` seconds (or a backoff of 0.5, 1, 2 s). This is safe for every call, POSTs included:
with those two statuses the server has not accepted the job (it was refused, or stored and removed
again), so nothing runs twice. The one exception is a synchronous call cut short by a server stopping
at once (``503 shutting-down``): its program may have started; it ran in a sandbox with no network, so
running it again changes nothing outside.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from gosandbox.client import calls as core
from gosandbox.client.calls import DEFAULT_RETRIES, DEFAULT_TIMEOUT, Call, Retries, SubmitOptions
from gosandbox.client.interactive import OPEN_TIMEOUT_S, AsyncInteractiveRun, InteractiveRun, websocket_url
from gosandbox.client.types import (
    Event,
    ExplainInput,
    GoTestInput,
    JudgeInput,
    RunInput,
    SourceInput,
    Submission,
    SubmitInput,
    request_body,
)
from gosandbox.explain import ExplainResult
from gosandbox.jobs.submission import Kind
from gosandbox.judge.task import JudgeResult
from gosandbox.models import FmtResult, RunResult, TestResult, VetResult

__all__ = ["AsyncClient", "Client", "Retries"]

T = TypeVar("T")


class Client:
    """A blocking client. ``api_key`` is sent as ``Authorization: Bearer <key>``.

    ``timeout`` (seconds, or an :class:`httpx.Timeout`) bounds each read: the default, 120 s, outlasts the
    longest synchronous call a server with default caps allows. ``transport`` replaces httpx's network
    transport (an :class:`httpx.MockTransport` in tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: Retries = DEFAULT_RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self._http = httpx.Client(
            base_url=base_url, headers=core.default_headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def run(self, code: str | None = None, **fields: Unpack[RunInput]) -> RunResult:
        """``POST /run``: build and run ``code`` (main.go) or ``files=``; with ``stdin``, ``args``, ``limits``."""
        return self._call(core.run(code, fields))

    def test(self, code: str | None = None, **fields: Unpack[GoTestInput]) -> TestResult:
        """``POST /test``: ``go test`` of the package (``files=``), with ``run``, ``cover``, ``bench``, ..."""
        return self._call(core.test(code, fields))

    def vet(self, code: str | None = None, **fields: Unpack[SourceInput]) -> VetResult:
        """``POST /vet``: ``go vet``'s findings as positions (``result.diagnostics``)."""
        return self._call(core.vet(code, fields))

    def fmt(self, code: str | None = None, **fields: Unpack[SourceInput]) -> FmtResult:
        """``POST /fmt``: the gofmt'd files (``result.files``) and which of them changed."""
        return self._call(core.fmt(code, fields))

    def explain(self, code: str | None = None, **fields: Unpack[ExplainInput]) -> ExplainResult:
        """``POST /explain``: the compiler's decisions (``result.decisions``: escapes, inlining, bounds and nil
        checks, each with its position and kind) and the assembly (``result.assembly``); nothing runs.

        >>> with Client("http://127.0.0.1:8000") as client:  # doctest: +SKIP
        ...     result = client.explain(code, function="main.add")
        ...     [d.message for d in result.decisions if d.kind == "escapes"]
        ['&T{...} escapes to heap']
        """
        return self._call(core.explain(code, fields))

    def judge(self, code: str | None = None, **fields: Unpack[JudgeInput]) -> JudgeResult:
        """``POST /judge``: one build, then each of ``cases`` in a fresh sandbox; ``result.status`` is the first
        failing case's verdict (``accepted`` when none fails), ``result.cases`` each case's.

        >>> with Client("http://127.0.0.1:8000") as client:  # doctest: +SKIP
        ...     result = client.judge(code, cases=[{"stdin": "1 2\\n", "expected_stdout": "3\\n"}])
        ...     result.status, [case.status for case in result.cases]
        ('accepted', ['accepted'])
        """
        return self._call(core.judge(code, fields))

    def submit(
        self,
        code: str | None = None,
        *,
        kind: Kind | str = Kind.RUN,
        idempotency_key: str | None = None,
        wait_s: float | None = None,
        **fields: Unpack[SubmitInput],
    ) -> Submission:
        """``POST /submissions``: store a job of ``kind`` (run, test, vet, fmt) and return it, queued.

        ``wait_s`` (at most 60) holds the answer until the job ends or that time passes; the same
        ``idempotency_key`` sent again returns the first submission instead of a new one.
        """
        return self._call(core.submit(code, fields, SubmitOptions(kind, idempotency_key, wait_s)))

    def interactive(self, code: str | None = None, **fields: Unpack[RunInput]) -> InteractiveRun:
        """A run whose stdin goes to the program as it is sent (``/runs/interactive``, a WebSocket): ``send``,
        ``close_stdin``, ``signal``, its events as they happen, ``result()``. Use it in ``with``."""
        return InteractiveRun(websocket_url(str(self._http.base_url)), self._http.headers,
                              request_body(code, fields), OPEN_TIMEOUT_S)  # fmt: skip

    def get(self, submission_id: str) -> Submission:
        """``GET /submissions/{id}``: the job's state, its result once done (:class:`NotFound` once purged)."""
        return self._call(core.get(submission_id))

    def cancel(self, submission_id: str) -> Submission:
        """``DELETE /submissions/{id}``: a queued job never runs, a running one is killed (:class:`Conflict`
        once it has finished)."""
        return self._call(core.cancel(submission_id))

    def events(self, submission_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's events as they happen, ending with ``result`` (a finished job replays its own).

        A stream the server closes early is resumed after the last event seen. A quiet job's stream
        carries a keep-alive every 15 s, so the client's read timeout must be longer than that.
        """
        stream = core.Resumption(submission_id, last_event_id, self.retries.attempts)
        while True:
            response = self._send(stream.call(), stream=True)
            try:
                if response.status_code == 204:  # a finished job with nothing after last_event_id
                    return
                with core.transport_errors("event stream"):
                    for line in response.iter_lines():
                        if (event := stream.feed(line)) is not None:
                            yield event
                        if stream.done:
                            return
            finally:
                response.close()
            stream.closed_early()

    def _call(self, call: Call[T]) -> T:
        return core.value_of(call, self._send(call, stream=False))

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """The answer, after any retries; a problem is raised (streamed or not)."""
        request, attempt = call.request(self._http), 0
        while True:
            with core.transport_errors(f"{call.method} {call.path}"):
                response = self._http.send(request, stream=stream)
                delay = self.retries.delay_s(response, attempt)
                if delay is None:
                    if stream and not response.is_success:
                        response.read()
                    return core.checked(response)
                response.close()
            time.sleep(delay)
            attempt += 1


class AsyncClient:
    """The asyncio client: :class:`Client`'s calls, awaited; ``events`` is an async iterator."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: Retries = DEFAULT_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=core.default_headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, code: str | None = None, **fields: Unpack[RunInput]) -> RunResult:
        """As :meth:`Client.run`."""
        return await self._call(core.run(code, fields))

    async def test(self, code: str | None = None, **fields: Unpack[GoTestInput]) -> TestResult:
        """As :meth:`Client.test`."""
        return await self._call(core.test(code, fields))

    async def vet(self, code: str | None = None, **fields: Unpack[SourceInput]) -> VetResult:
        """As :meth:`Client.vet`."""
        return await self._call(core.vet(code, fields))

    async def fmt(self, code: str | None = None, **fields: Unpack[SourceInput]) -> FmtResult:
        """As :meth:`Client.fmt`."""
        return await self._call(core.fmt(code, fields))

    async def explain(self, code: str | None = None, **fields: Unpack[ExplainInput]) -> ExplainResult:
        """As :meth:`Client.explain`."""
        return await self._call(core.explain(code, fields))

    async def judge(self, code: str | None = None, **fields: Unpack[JudgeInput]) -> JudgeResult:
        """As :meth:`Client.judge`."""
        return await self._call(core.judge(code, fields))

    async def submit(
        self,
        code: str | None = None,
        *,
        kind: Kind | str = Kind.RUN,
        idempotency_key: str | None = None,
        wait_s: float | None = None,
        **fields: Unpack[SubmitInput],
    ) -> Submission:
        """As :meth:`Client.submit`."""
        return await self._call(core.submit(code, fields, SubmitOptions(kind, idempotency_key, wait_s)))

    def interactive(self, code: str | None = None, **fields: Unpack[RunInput]) -> AsyncInteractiveRun:
        """:meth:`Client.interactive` for asyncio: ``async with client.interactive(code) as run``."""
        return AsyncInteractiveRun(websocket_url(str(self._http.base_url)), self._http.headers,
                                   request_body(code, fields), OPEN_TIMEOUT_S)  # fmt: skip

    async def get(self, submission_id: str) -> Submission:
        """As :meth:`Client.get`."""
        return await self._call(core.get(submission_id))

    async def cancel(self, submission_id: str) -> Submission:
        """As :meth:`Client.cancel`."""
        return await self._call(core.cancel(submission_id))

    async def events(self, submission_id: str, *, last_event_id: str | None = None) -> AsyncIterator[Event]:
        """As :meth:`Client.events`."""
        stream = core.Resumption(submission_id, last_event_id, self.retries.attempts)
        while True:
            response = await self._send(stream.call(), stream=True)
            try:
                if response.status_code == 204:
                    return
                with core.transport_errors("event stream"):
                    async for line in response.aiter_lines():
                        if (event := stream.feed(line)) is not None:
                            yield event
                        if stream.done:
                            return
            finally:
                await response.aclose()
            stream.closed_early()

    async def _call(self, call: Call[T]) -> T:
        return core.value_of(call, await self._send(call, stream=False))

    async def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        request, attempt = call.request(self._http), 0
        while True:
            with core.transport_errors(f"{call.method} {call.path}"):
                response = await self._http.send(request, stream=stream)
                delay = self.retries.delay_s(response, attempt)
                if delay is None:
                    if stream and not response.is_success:
                        await response.aread()
                    return core.checked(response)
                await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

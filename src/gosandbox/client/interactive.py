"""Interactive runs from Python: the program's stdin live over ``/runs/interactive`` (docs/interactive.md).

Usage::

    with Client(url).interactive(code) as run:
        for event in run:
            if event.name == "stdout" and event.text.endswith("? "):
                run.send("gopher\\n")
        print(run.result().stdout)

:class:`InteractiveRun` (blocking) and :class:`AsyncInteractiveRun` (asyncio) hold one WebSocket each: ``send``
(text or bytes) for the program's stdin, ``close_stdin`` for its end, ``signal`` ("SIGINT", "SIGTERM",
"SIGKILL"), ``cancel``, iteration over the job's :class:`~gosandbox.client.types.Event` objects as they happen
(the ones :meth:`Client.events` yields), and ``result`` (it reads the remaining events). A close other than the
run's end raises :class:`InteractiveClosed` with the server's code and reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from gosandbox.client.errors import ClientError, Problem, Unreachable, api_error
from gosandbox.client.types import Event, Submission
from gosandbox.models import RunResult

PATH = "/runs/interactive"
#: How long opening the WebSocket may take.
OPEN_TIMEOUT_S = 30.0
_DONE = 1000


class InteractiveClosed(ClientError):
    """The server ended the connection before the run's result: ``code`` and ``reason`` say why (idle, stdin over
    its cap, a bad message, ...); the run was cancelled."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the server closed the interactive run ({code}): {reason}")
        self.code, self.reason = code, reason


def websocket_url(base_url: str) -> str:
    """``http://host:port/prefix`` -> ``ws://host:port/prefix/runs/interactive`` (https -> wss)."""
    base = base_url.rstrip("/")
    for scheme, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(scheme):
            return ws + base.removeprefix(scheme) + PATH
    raise ValueError(f"base_url must start with http:// or https://, not {base_url[:40]!r}")


#: The client's headers an upgrade carries (its key, its name); HTTP's own (Connection, Accept) are the upgrade's.
_UPGRADE_HEADERS = ("authorization", "user-agent")


def upgrade_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() in _UPGRADE_HEADERS}


def start_message(body: Mapping[str, Any]) -> str:
    return json.dumps({"type": "start", "run": dict(body)})


def stdin_frame(data: str | bytes) -> bytes:
    """What ``send`` puts on the wire: a binary message is the bytes as they are."""
    return data.encode() if isinstance(data, str) else bytes(data)


def signal_message(name: str) -> str:
    return json.dumps({"type": "signal", "signal": name})


class _Reading:
    """The protocol's server side as the client reads it: the submission, the events, the end."""

    def __init__(self) -> None:
        self.submission_id: str | None = None
        self.final: Submission | None = None

    def take(self, text: str | bytes) -> Event | None:
        message = json.loads(text)
        kind = message.get("type")
        if kind == "submission":
            self.submission_id = str(message["id"])
        elif kind == "event":
            event = Event.of(str(message["id"]), str(message["event"]), dict(message["data"]))
            if event.submission is not None:
                self.final = event.submission
            return event
        return None

    def closed_by(self, closed: ConnectionClosed) -> None:
        """Raise unless the run ended (its result came) and the server closed as it does then."""
        code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd is not None else (None, "")
        if self.final is None or code != _DONE:
            raise InteractiveClosed(code, reason or "no reason given")

    def result(self) -> RunResult:
        assert self.final is not None
        if self.final.result is None:
            raise InteractiveClosed(_DONE, f"the run ended {self.final.state.value} without a result")
        assert isinstance(self.final.result, RunResult)
        return self.final.result


def _refused(exc: Exception) -> ClientError:
    if isinstance(exc, InvalidStatus):
        response = exc.response
        try:
            document = json.loads(response.body or b"{}")
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        document.setdefault("detail", f"the server refused the WebSocket upgrade ({response.status_code})")
        return api_error(Problem.from_json(document, response.status_code))
    return Unreachable(f"interactive run: {exc}")


class InteractiveRun:
    """One interactive run over a blocking WebSocket (see the module's docstring)."""

    def __init__(self, url: str, headers: Mapping[str, str], body: Mapping[str, Any], timeout_s: float) -> None:
        try:
            self._ws: ClientConnection = connect(
                url, additional_headers=upgrade_headers(headers), open_timeout=timeout_s, legacy=True
            )
        except (OSError, WebSocketException) as exc:
            raise _refused(exc) from None
        self._reading = _Reading()
        self._ws.send(start_message(body))

    @property
    def submission_id(self) -> str | None:
        """The job's id, once the server stored it (after the first event at the latest)."""
        return self._reading.submission_id

    def send(self, data: str | bytes) -> None:
        """Bytes (a str as UTF-8) for the program's stdin, now."""
        self._ws.send(stdin_frame(data))

    def close_stdin(self) -> None:
        self._ws.send(json.dumps({"type": "eof"}))

    def signal(self, name: str) -> None:
        self._ws.send(signal_message(name))

    def cancel(self) -> None:
        self._ws.send(json.dumps({"type": "cancel"}))

    def __iter__(self) -> Iterator[Event]:
        while True:
            try:
                text = self._ws.recv()
            except ConnectionClosed as closed:
                self._reading.closed_by(closed)
                return
            event = self._reading.take(text)
            if event is not None:
                yield event

    def result(self) -> RunResult:
        """The run's result, once it ends (the events not read yet are read and dropped)."""
        for _ in self:
            pass
        return self._reading.result()

    def close(self) -> None:
        """Hang up (a run still going is cancelled)."""
        self._ws.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncInteractiveRun:
    """One interactive run over an asyncio WebSocket: ``async with client.interactive(...) as run``."""

    def __init__(self, url: str, headers: Mapping[str, str], body: Mapping[str, Any], timeout_s: float) -> None:
        self._url, self._headers, self._body, self._timeout_s = url, upgrade_headers(headers), dict(body), timeout_s
        self._ws: AsyncConnection | None = None
        self._reading = _Reading()

    async def __aenter__(self) -> Self:
        try:
            self._ws = await async_connect(self._url, additional_headers=self._headers, open_timeout=self._timeout_s)
        except (OSError, WebSocketException) as exc:
            raise _refused(exc) from None
        await self._ws.send(start_message(self._body))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def submission_id(self) -> str | None:
        return self._reading.submission_id

    def _open(self) -> AsyncConnection:
        if self._ws is None:
            raise ClientError("use the interactive run in `async with`")
        return self._ws

    async def send(self, data: str | bytes) -> None:
        await self._open().send(stdin_frame(data))

    async def close_stdin(self) -> None:
        await self._open().send(json.dumps({"type": "eof"}))

    async def signal(self, name: str) -> None:
        await self._open().send(signal_message(name))

    async def cancel(self) -> None:
        await self._open().send(json.dumps({"type": "cancel"}))

    async def __aiter__(self) -> AsyncIterator[Event]:
        ws = self._open()
        while True:
            try:
                text = await ws.recv()
            except ConnectionClosed as closed:
                self._reading.closed_by(closed)
                return
            event = self._reading.take(text)
            if event is not None:
                yield event

    async def result(self) -> RunResult:
        async for _ in self:
            pass
        return self._reading.result()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def encoded_stdin(data: bytes) -> str:
    """A stdin message carrying ``data`` as Base64 (for a client that sends text messages only)."""
    return json.dumps({"type": "stdin", "data_b64": base64.b64encode(data).decode("ascii")})

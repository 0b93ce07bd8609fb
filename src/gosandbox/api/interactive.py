"""``/runs/interactive``: a run whose stdin comes live over a WebSocket (docs/interactive.md has the protocol).

The client's messages (JSON text; a binary message is stdin bytes as they are):

- ``{"type": "start", "run": {...}}`` first: the body of ``POST /run`` (code or files, args, limits, go_version);
- ``{"type": "stdin", "data": "text"}`` (or ``"data_b64"``): bytes for the program's stdin, as they come;
- ``{"type": "eof"}``: the program's stdin is closed;
- ``{"type": "signal", "signal": "SIGINT" | "SIGTERM" | "SIGKILL"}``;
- ``{"type": "cancel"}``: the job ends cancelled.

The server's: ``{"type": "submission", "id": ...}`` once stored, then each of the job's events as it happens,
``{"type": "event", "event": name, "id": ..., "data": {...}}`` (``state``, ``compile``, ``stdout``/``stderr``,
``result``: the data of ``GET /submissions/{id}/events``), and it closes: 1000 after the result, or a code of
:mod:`gosandbox.edge.interactive` whose reason says why (a longer one in an ``{"type": "error"}`` message first).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from gosandbox.auth.context import current_owner
from gosandbox.edge.context import RouteContext
from gosandbox.edge.interactive import BAD_MESSAGE, DONE, Closing, InteractiveRun, closing_for
from gosandbox.edge.requests import run_job
from gosandbox.errors import GosandboxError
from gosandbox.jobs.submission import JobRequest

logger = logging.getLogger(__name__)

PATH = "/runs/interactive"


def add_interactive_routes(app: FastAPI, routes: RouteContext) -> None:
    settings = routes.settings
    default_program = settings.default_program_source()

    def prepare(body: bytes) -> JobRequest:
        return run_job(body, "application/json", settings, default_program)

    @app.websocket(PATH)
    async def interactive(websocket: WebSocket) -> None:
        """A run whose stdin, end of input and signals come live; its events go out as they happen."""
        await websocket.accept()
        run = InteractiveRun(settings, routes.service)
        try:
            await _serve(websocket, run, prepare)
        except Closing as closing:
            await run.finish()  # cancelled before the client hears why
            await _close(websocket, closing)
        except WebSocketDisconnect:
            pass  # the client left: its run is cancelled below
        finally:
            await run.finish()


async def _serve(websocket: WebSocket, run: InteractiveRun, prepare: Any) -> None:
    first = await _receive_start(websocket, run)
    try:
        job = await asyncio.to_thread(prepare, json.dumps(first).encode())
        submission = await run.start(job, current_owner())
    except GosandboxError as exc:
        raise closing_for(exc) from None
    await websocket.send_json({"type": "submission", "id": submission.id, "location": f"/submissions/{submission.id}"})
    events = asyncio.create_task(_send_events(websocket, run))
    inputs = asyncio.create_task(_take_inputs(websocket, run))
    idle = asyncio.create_task(run.watch_idle())
    try:
        done, _ = await asyncio.wait({events, inputs, idle}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a Closing or a disconnect ends it all
    finally:
        for task in (events, inputs, idle):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    await websocket.close(DONE, "the run ended")


async def _receive_start(websocket: WebSocket, run: InteractiveRun) -> dict[str, Any]:
    """The start message's run body; anything else first is refused."""
    receiving = asyncio.ensure_future(websocket.receive())
    idle = asyncio.ensure_future(run.watch_idle())
    try:
        done, _ = await asyncio.wait({receiving, idle}, return_when=asyncio.FIRST_COMPLETED)
        received = next(iter(done)).result()
    finally:
        for task in (receiving, idle):
            task.cancel()
    if received is None or received["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(1000 if received is None else received.get("code", 1000))
    run.touch()
    message = _parse(run, received.get("text") or "")
    body = message.get("run", {})
    if message.get("type") != "start" or not isinstance(body, dict):
        raise Closing(BAD_MESSAGE, 'the first message must be {"type": "start", "run": {...}} (a POST /run body)')
    return body


async def _send_events(websocket: WebSocket, run: InteractiveRun) -> None:
    """Each event as it happens; one send at a time, so a slow reader holds back the log, not our memory."""
    async for event in run.events():
        await websocket.send_json({"type": "event", "event": event.name, "id": event.id, "data": event.data})
        run.touch()


async def _take_inputs(websocket: WebSocket, run: InteractiveRun) -> None:
    """The client's messages until it hangs up (a disconnect ends the run)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        run.touch()
        if message.get("bytes") is not None:
            run.check_size(len(message["bytes"]))
            run.send(message["bytes"])
            continue
        await _act(run, _parse(run, message.get("text") or ""))


async def _act(run: InteractiveRun, message: dict[str, Any]) -> None:
    kind = message.get("type")
    if kind == "stdin":
        run.send(_stdin_bytes(message))
    elif kind == "eof":
        run.close_stdin()
    elif kind == "signal":
        run.signal(str(message.get("signal", ""))[:20])
    elif kind == "cancel":
        await run.cancel()
    else:
        raise Closing(BAD_MESSAGE, f"unknown message type {str(kind)[:20]!r}: stdin, eof, signal or cancel")


def _stdin_bytes(message: dict[str, Any]) -> bytes:
    if isinstance(message.get("data"), str):
        return str(message["data"]).encode()
    if isinstance(message.get("data_b64"), str):
        try:
            return base64.b64decode(message["data_b64"], validate=True)
        except (binascii.Error, ValueError):
            raise Closing(BAD_MESSAGE, "data_b64 is not Base64") from None
    raise Closing(BAD_MESSAGE, 'a stdin message carries "data" (text) or "data_b64"')


def _parse(run: InteractiveRun, text: str) -> dict[str, Any]:
    run.check_size(len(text.encode()))
    try:
        message = json.loads(text)
    except ValueError:
        raise Closing(BAD_MESSAGE, "a message must be a JSON object") from None
    if not isinstance(message, dict):
        raise Closing(BAD_MESSAGE, "a message must be a JSON object")
    return message


async def _close(websocket: WebSocket, closing: Closing) -> None:
    """Say why in full, then close with the code and the reason's first 123 bytes."""
    with contextlib.suppress(Exception):  # the client may be gone already
        await websocket.send_json({"type": "error", "code": closing.code, "message": closing.reason})
        await websocket.close(closing.code, closing.short_reason)

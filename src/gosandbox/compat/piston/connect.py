"""Piston v2's ``/api/v2/connect``: an interactive run over a WebSocket, in Piston's own messages (its api/v2.js).

The client sends ``{"type": "init", ...}`` (the body of ``/api/v2/execute``) first, then any number of
``{"type": "data", "stream": "stdin", "data": "..."}`` and ``{"type": "signal", "signal": "SIGINT"}``. The
server answers ``{"type": "runtime", "language", "version"}``, then for each stage ``{"type": "stage", "stage":
"compile" | "run"}``, the stage's output as ``{"type": "data", "stream": "stdout" | "stderr", "data"}`` and
``{"type": "exit", "stage", "code", "signal", "error"}``; it closes with 4999 "Job Completed". Piston's close
codes otherwise: 4000 already initialized, 4001 no init in time, 4002 after an ``{"type": "error", "message"}``,
4003 not yet initialized, 4004 a stream other than stdin, 4005 an unknown signal.

As Piston's, the init's ``stdin`` is not written (the program's stdin is what ``data`` messages send) and there is
no end of input. Ours besides: the bounds of every interactive run (:mod:`gosandbox.edge.interactive`), whose close
codes and reasons are the native endpoint's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from gosandbox.auth.context import current_owner
from gosandbox.backends.live import SIGNALS
from gosandbox.compat.piston.request import PistonJob, execute_job
from gosandbox.compat.piston.result import run_stage
from gosandbox.edge.context import RouteContext
from gosandbox.edge.interactive import Closing, InteractiveRun
from gosandbox.errors import GosandboxError
from gosandbox.jobs.events import Event

logger = logging.getLogger(__name__)

COMPLETED = 4999
ALREADY_INITIALIZED = 4000
INIT_TIMEOUT = 4001
NOTIFIED_ERROR = 4002
NOT_INITIALIZED = 4003
ONLY_STDIN = 4004
INVALID_SIGNAL = 4005


def add_piston_connect(app: FastAPI, routes: RouteContext) -> None:
    settings, service = routes.settings, routes.service

    def prepare(body: bytes) -> PistonJob:
        return execute_job(body, settings, service.dispatcher.go_versions)

    @app.websocket("/api/v2/connect")
    async def piston_connect(websocket: WebSocket) -> None:
        """Piston's interactive execute."""
        await websocket.accept()
        run = InteractiveRun(settings, service)
        try:
            await _serve(websocket, run, prepare)
        except Closing as closing:
            await run.finish()  # cancelled before the client hears why
            with contextlib.suppress(Exception):
                await websocket.close(closing.code, closing.short_reason)
        except WebSocketDisconnect:
            pass
        finally:
            await run.finish()


async def _serve(websocket: WebSocket, run: InteractiveRun, prepare: Any) -> None:
    try:
        init = await asyncio.wait_for(websocket.receive(), run.bounds.idle_s)
    except TimeoutError:
        raise Closing(INIT_TIMEOUT, "Initialization Timeout") from None
    message = _message(run, init)
    if message.get("type") != "init":
        raise Closing(NOT_INITIALIZED, "Not yet initialized")
    try:
        piston = await asyncio.to_thread(prepare, json.dumps(message).encode())
        await run.start(piston.job, current_owner())
    except GosandboxError as exc:
        await _notify(websocket, str(exc))
        return
    await websocket.send_json({"type": "runtime", "language": piston.language, "version": piston.version})
    tasks = [asyncio.create_task(coroutine) for coroutine in
             (_send_stages(websocket, run), _take_inputs(websocket, run), run.watch_idle())]  # fmt: skip
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    await websocket.close(COMPLETED, "Job Completed")


async def _send_stages(websocket: WebSocket, run: InteractiveRun) -> None:
    """The job's events as Piston's stage, data and exit messages."""
    await websocket.send_json({"type": "stage", "stage": "compile"})
    async for event in run.events():
        for message in _translated(event):
            await websocket.send_json(message)
        run.touch()


def _translated(event: Event) -> list[dict[str, Any]]:
    data = event.data
    if event.name == "compile":
        messages: list[dict[str, Any]] = []
        if data.get("output"):
            messages.append({"type": "data", "stream": "stderr", "data": data["output"]})
        messages.append({"type": "exit", "stage": "compile", "code": 0 if data["succeeded"] else 1, "signal": None})
        if data["succeeded"]:
            messages.append({"type": "stage", "stage": "run"})
        return messages
    if event.name in ("stdout", "stderr"):
        return [{"type": "data", "stream": event.name, "data": data["text"]}]
    if event.name == "result":
        return _result_messages(data)
    return []


def _result_messages(submission: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's exit (a build that failed had its exit with the compile event), or the service's error."""
    result = submission.get("result")
    if result is None:
        error = submission.get("error") or {}
        detail = error.get("detail") or f"the job ended {submission.get('state')}"
        return [{"type": "exit", "stage": "run", "code": None, "signal": None, "error": detail}]
    if result["status"] == "compile_error":
        return []  # its compile event said so
    stage = run_stage(result, None)
    return [{"type": "exit", "stage": "run", "code": stage["code"], "signal": stage["signal"]}]


async def _take_inputs(websocket: WebSocket, run: InteractiveRun) -> None:
    while True:
        received = await websocket.receive()
        if received["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(received.get("code", 1000))
        run.touch()
        message = _message(run, received)
        kind = message.get("type")
        if kind == "init":
            raise Closing(ALREADY_INITIALIZED, "Already Initialized")
        if kind == "data":
            if message.get("stream") != "stdin":
                raise Closing(ONLY_STDIN, "Can only write to stdin")
            run.send(str(message.get("data", "")).encode())
        elif kind == "signal":
            if message.get("signal") not in SIGNALS:
                raise Closing(INVALID_SIGNAL, "Invalid signal")
            run.signal(str(message["signal"]))


def _message(run: InteractiveRun, received: Any) -> dict[str, Any]:
    """A client message as a JSON object; anything else is Piston's notified error."""
    if received.get("type") == "websocket.disconnect":
        raise WebSocketDisconnect(received.get("code", 1000))
    raw = received.get("text") or (received.get("bytes") or b"").decode(errors="replace")
    run.check_size(len(raw.encode()))
    try:
        message = json.loads(raw)
    except ValueError:
        raise Closing(NOTIFIED_ERROR, "Notified Error") from None
    if not isinstance(message, dict):
        raise Closing(NOTIFIED_ERROR, "Notified Error")
    return message


async def _notify(websocket: WebSocket, detail: str) -> None:
    """Piston's way with an error: say it in a message (a close reason holds 123 bytes), then close 4002."""
    await websocket.send_json({"type": "error", "message": detail})
    await websocket.close(NOTIFIED_ERROR, "Notified Error")

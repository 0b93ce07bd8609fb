"""The interactive protocols above the backend: ours (/runs/interactive) and Piston's (/api/v2/connect), the
upgrade's keys and Origin rules, the client's bounds, the Python client, and what the MCP tools say.

The fake backend's program reads its live stdin as a real backend's would (items in order, then the end) and
answers each chunk upper-cased; the real sandboxes' side is tests/sandbox/test_interactive.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client as McpClient
from starlette.testclient import WebSocketDenialResponse

from gosandbox.app import create_app
from gosandbox.auth.keys import KeyStore
from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.backends.live import EndOfInput, Signal
from gosandbox.client.http import AsyncClient, Client
from gosandbox.client.interactive import InteractiveClosed
from gosandbox.mcp.server import build_mcp_server
from gosandbox.wiring import open_store
from support.app_helpers import make_settings
from support.inprocess_server import uvicorn_serving
from support.tenants import make_key

MAIN = "package main\n\nfunc main() {}\n"


def answering(job: ExecJob) -> ExecOutcome:
    """Answers each chunk of live stdin upper-cased; ends at EOF (exit 0) or at a signal (128 + it)."""
    assert job.live is not None
    assert job.on_output is not None
    job.on_output("stdout", b"ready\n")
    written = b"ready\n"
    while not job.cancel.is_set():
        item = job.live.take_any(0.02)
        if isinstance(item, bytes):
            job.on_output("stdout", item.upper())
            written += item.upper()
        elif isinstance(item, EndOfInput):
            return ExecOutcome(0, None, written, b"", 0.1)
        elif isinstance(item, Signal):
            return ExecOutcome(128 + item.number, item.number, written, b"", 0.1)
    return ExecOutcome(None, 9, written, b"", 0.1, cancelled=True)


class LiveFake(FakeBackend):
    """The fake backend whose program streams its own output as it writes it (:func:`answering`)."""

    def __init__(self) -> None:
        super().__init__(execute=answering)

    def execute(self, job: ExecJob) -> ExecOutcome:
        return answering(job)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, interactive_idle_s=1.0, interactive_stdin_bytes=100,
                             interactive_message_bytes=2048)  # fmt: skip
    with TestClient(create_app(settings, backend=LiveFake())) as test_client:
        yield test_client


def start(ws: Any, **run: Any) -> str:
    ws.send_json({"type": "start", "run": {"code": MAIN, **run}})
    first = ws.receive_json()
    assert first["type"] == "submission", first
    return str(first["id"])


def until_stdout(ws: Any, wanted: str) -> list[dict[str, Any]]:
    seen, messages = "", []
    while wanted not in seen:
        message = ws.receive_json()
        messages.append(message)
        if message.get("event") == "stdout":
            seen += message["data"]["text"]
    return messages


def until_closed(ws: Any) -> tuple[list[dict[str, Any]], int, str]:
    messages: list[dict[str, Any]] = []
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            return messages, message["code"], message.get("reason", "")
        messages.append(json.loads(message["text"]))


def test_each_chunk_reaches_the_program_as_it_is_sent_and_the_job_is_stored(client: TestClient) -> None:
    with client.websocket_connect("/runs/interactive") as ws:
        submission_id = start(ws)
        events = until_stdout(ws, "ready\n")
        assert [e["event"] for e in events] == ["state", "state", "compile", "stdout"]
        assert [e["data"]["state"] for e in events[:2]] == ["queued", "running"]
        ws.send_json({"type": "stdin", "data": "gopher\n"})
        assert until_stdout(ws, "GOPHER\n")[-1]["data"]["text"] == "GOPHER\n"
        ws.send_bytes(b"raw\x00")
        ws.send_json({"type": "stdin", "data_b64": "YjY0"})
        ws.send_json({"type": "eof"})
        messages, code, reason = until_closed(ws)
    assert (code, reason) == (1000, "the run ended")
    result = messages[-1]
    assert result["event"] == "result"
    assert result["data"]["result"]["stdout"] == "ready\nGOPHER\nRAW\x00B64"
    stored = client.get(f"/submissions/{submission_id}").json()
    assert (stored["state"], stored["result"]["stdout"]) == ("done", "ready\nGOPHER\nRAW\x00B64")


def test_a_signal_and_a_cancel_reach_the_run(client: TestClient) -> None:
    with client.websocket_connect("/runs/interactive") as ws:
        start(ws)
        until_stdout(ws, "ready\n")
        ws.send_json({"type": "signal", "signal": "SIGINT"})
        messages, code, _ = until_closed(ws)
    assert code == 1000
    assert messages[-1]["data"]["result"]["exit_code"] == 130
    with client.websocket_connect("/runs/interactive") as ws:
        submission_id = start(ws)
        until_stdout(ws, "ready\n")
        ws.send_json({"type": "cancel"})
        messages, code, _ = until_closed(ws)
    assert messages[-1]["data"]["state"] == "cancelled"
    assert client.get(f"/submissions/{submission_id}").json()["state"] == "cancelled"


@pytest.mark.parametrize(
    ("first", "then", "code", "reason"),
    [
        ("not json", None, 4400, "a message must be a JSON object"),
        ('{"type": "stdin", "data": "x"}', None, 4400, 'the first message must be {"type": "start"'),
        (None, '{"type": "dance"}', 4400, "unknown message type 'dance'"),
        (None, '{"type": "signal", "signal": "SIGSEGV"}', 4400, "signal must be one of SIGINT, SIGTERM, SIGKILL"),
        (None, '{"type": "stdin", "data_b64": "%%%"}', 4400, "data_b64 is not Base64"),
        (None, json.dumps({"type": "stdin", "data": "x" * 101}), 4413, "stdin over its cap of 100 bytes"),
        (None, json.dumps({"type": "stdin", "data": "x" * 3000}), 1009, "a message is at most 2048 bytes"),
    ],
)
def test_a_bad_or_oversized_message_closes_with_its_reason(
    client: TestClient, first: str | None, then: str | None, code: int, reason: str
) -> None:
    with client.websocket_connect("/runs/interactive") as ws:
        if first is not None:
            ws.send_text(first)
        else:
            start(ws)
            until_stdout(ws, "ready\n")
            assert then is not None
            ws.send_text(then)
        messages, got_code, got_reason = until_closed(ws)
    assert got_code == code
    assert got_reason.startswith(reason)
    assert messages[-1]["type"] == "error"
    assert client.get("/healthz").status_code == 200


def test_a_client_that_sends_nothing_is_cut_off_when_idle(client: TestClient) -> None:
    with client.websocket_connect("/runs/interactive") as ws:
        submission_id = start(ws)
        until_stdout(ws, "ready\n")
        _, code, reason = until_closed(ws)
    assert (code, reason) == (4408, "idle: nothing sent or read for 1 s; the run is cancelled")
    assert client.get(f"/submissions/{submission_id}").json()["state"] == "cancelled"


def test_the_upgrade_follows_the_origin_rules(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect("/runs/interactive", headers={"Origin": "http://evil.example"}).__enter__()
    assert refused.value.status_code == 403
    assert refused.value.json()["type"].endswith("cross-site-request")
    with pytest.raises(WebSocketDenialResponse) as misdirected:
        client.websocket_connect("/runs/interactive", headers={"Host": "evil.example"}).__enter__()
    assert misdirected.value.status_code == 421
    with client.websocket_connect("/runs/interactive", headers={"Origin": "http://testserver"}) as ws:
        start(ws)  # the server's own page may


def test_with_keys_required_the_upgrade_needs_one(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, auth="required"), backend=LiveFake())
    key = make_key(KeyStore(open_store(make_settings(tmp_path)).engine), "alice")
    with TestClient(app) as client:
        with pytest.raises(WebSocketDenialResponse) as refused:
            client.websocket_connect("/runs/interactive").__enter__()
        assert refused.value.status_code == 401
        with client.websocket_connect("/runs/interactive", headers={"Authorization": f"Bearer {key}"}) as ws:
            submission_id = start(ws)
            until_stdout(ws, "ready\n")
            ws.send_json({"type": "eof"})
            until_closed(ws)
        assert client.get(f"/submissions/{submission_id}").status_code == 401  # no key: no read
        owned = client.get(f"/submissions/{submission_id}", headers={"Authorization": f"Bearer {key}"})
        assert owned.json()["state"] == "done"


# --- Piston's /api/v2/connect, message for message ------------------------------------------------------------------


def piston_init(**fields: Any) -> dict[str, Any]:
    return {"type": "init", "language": "go", "version": "0.0-fake", "files": [{"content": MAIN}], **fields}


def test_piston_connect_speaks_pistons_messages(client: TestClient) -> None:
    with client.websocket_connect("/api/v2/connect") as ws:
        ws.send_json(piston_init(stdin="never written"))
        version = client.get("/api/v2/runtimes").json()[0]["version"]
        assert ws.receive_json() == {"type": "runtime", "language": "go", "version": version}
        assert ws.receive_json() == {"type": "stage", "stage": "compile"}
        assert ws.receive_json() == {"type": "exit", "stage": "compile", "code": 0, "signal": None}
        assert ws.receive_json() == {"type": "stage", "stage": "run"}
        assert ws.receive_json() == {"type": "data", "stream": "stdout", "data": "ready\n"}
        ws.send_json({"type": "data", "stream": "stdin", "data": "gopher\n"})
        assert ws.receive_json() == {"type": "data", "stream": "stdout", "data": "GOPHER\n"}
        ws.send_json({"type": "signal", "signal": "SIGTERM"})
        assert ws.receive_json() == {"type": "exit", "stage": "run", "code": None, "signal": "SIGTERM"}
        assert until_closed(ws)[1:] == (4999, "Job Completed")


@pytest.mark.parametrize(
    ("messages", "code", "reason"),
    [
        ([{"type": "data", "stream": "stdin", "data": "x"}], 4003, "Not yet initialized"),
        ([piston_init(), {"type": "data", "stream": "stdout", "data": "x"}], 4004, "Can only write to stdin"),
        ([piston_init(), {"type": "signal", "signal": "SIGWINCH"}], 4005, "Invalid signal"),
        ([piston_init(), piston_init()], 4000, "Already Initialized"),
    ],
)
def test_piston_connect_closes_as_piston_does(
    client: TestClient, messages: list[dict[str, Any]], code: int, reason: str
) -> None:
    with client.websocket_connect("/api/v2/connect") as ws:
        for message in messages:
            ws.send_json(message)
        assert until_closed(ws)[1:] == (code, reason)


def test_piston_connect_notifies_an_error_then_closes_4002(client: TestClient) -> None:
    with client.websocket_connect("/api/v2/connect") as ws:
        ws.send_json({"type": "init", "language": "cobol", "version": "1.x", "files": [{"content": "x"}]})
        messages, code, reason = until_closed(ws)
    assert messages == [{"type": "error", "message": "cobol-1.x runtime is unknown"}]
    assert (code, reason) == (4002, "Notified Error")


# --- the Python client and the MCP tools -----------------------------------------------------------------------------


def test_the_python_clients_interactive_run(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_hosts="")
    with uvicorn_serving(create_app(settings, backend=LiveFake())) as url:
        with Client(url).interactive(MAIN) as run:
            for event in run:
                if event.name == "stdout" and event.text == "ready\n":
                    run.send("gopher\n")
                elif event.text == "GOPHER\n":
                    run.close_stdin()
            result = run.result()
        assert (result.stdout, result.exit_code) == ("ready\nGOPHER\n", 0)
        assert Client(url).get(str(run.submission_id)).state.value == "done"

        async def asynchronously() -> tuple[str, int | None]:
            async with AsyncClient(url) as client, client.interactive(MAIN) as run:
                async for event in run:
                    if event.text == "ready\n":
                        await run.signal("SIGINT")
                final = await run.result()
                return final.stdout, final.exit_code

        assert asyncio.run(asynchronously()) == ("ready\n", 130)
        with Client(url).interactive(MAIN) as run:
            run.send("x" * (64 * 1024 + 1))
            with pytest.raises(InteractiveClosed) as closed:
                run.result()
        assert (closed.value.code, closed.value.reason) == (1009, "a message is at most 65536 bytes")


def test_the_mcp_run_tool_says_runs_are_not_interactive_and_why(client: TestClient) -> None:
    app: Any = client.app
    server = build_mcp_server(app.state.settings, app.state.jobs)

    async def description() -> str:
        async with McpClient(server) as mcp:
            tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
            return str(tools["run_go"].description)

    text = asyncio.run(description())
    assert "Runs are not interactive" in text
    assert "stdin up front" in text or "answers up front in stdin" in text

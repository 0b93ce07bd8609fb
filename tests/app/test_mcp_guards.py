"""``/mcp`` behind the body guards of every other route: the JSON-token ceiling, the parsing slots, argument
errors that do not echo the input, and log records bounded whatever a caller sends.

Before: a ``tools/call`` with 85,000 unknown argument names was answered with 15.5 MB of validation errors,
and the MCP SDK logged one 839,000-character line for it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge import parsing
from gosandbox.logs import BoundedRecords
from gosandbox.mcp.guards import MAX_SHOWN_ERRORS
from support.app_helpers import make_settings, problem_of

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
MIB = 1024 * 1024


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(make_settings(tmp_path, max_body_bytes=4 * MIB), backend=FakeBackend())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8080") as test_client:
        yield test_client


def call(client: TestClient, arguments: dict[str, Any], tool: str = "run_go") -> tuple[int, bytes]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = client.post("/mcp", content=json.dumps(body), headers=HEADERS)
    return response.status_code, response.content


def tool_error(answer: bytes) -> str:
    data = next(line for line in answer.decode().splitlines() if line.startswith("data: "))
    result = json.loads(data.removeprefix("data: "))["result"]
    assert result["isError"] is True
    return str(result["content"][0]["text"])


def test_a_body_past_the_json_token_ceiling_is_refused_before_the_sdk_reads_it(client: TestClient) -> None:
    status, answer = call(client, {f"k{i}": 1 for i in range(85_000)})
    assert status == 422
    assert len(answer) < 1000
    assert "more than 65536 keys" in json.loads(answer)["detail"]


def test_unknown_argument_names_are_counted_not_echoed(client: TestClient) -> None:
    status, answer = call(client, {"code": "package main", **{f"unknown-{i}": 1 for i in range(20_000)}})
    assert status == 200
    assert len(answer) < 2000, len(answer)
    text = tool_error(answer)
    assert "unknown arguments: 'unknown-0'" in text
    assert "and 19995 more" in text
    assert "unknown-19999" not in text


def test_argument_errors_are_bounded_in_number_and_length(client: TestClient) -> None:
    files = {f"{'n' * 300}{i}.go": i for i in range(5_000)}  # 5,000 wrong values under long client-chosen names
    status, answer = call(client, {"files": files})
    assert status == 200
    assert len(answer) < 5000, len(answer)
    text = tool_error(answer)
    assert f"and {5_000 - MAX_SHOWN_ERRORS} more errors" in text
    assert "n" * 41 not in text  # names are cut
    assert "input_value=None" in text  # and no value is shown


def test_a_saturated_parsing_gate_answers_mcp_429(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = app.state.parsing
    monkeypatch.setattr(gate, "wait_s", 0.1)
    monkeypatch.setattr(gate, "_slots", lambda: parsing._Slots(asyncio.Semaphore(0), asyncio.Semaphore(0)))
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        response = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=HEADERS)
    problem_of(response, 429, "overloaded")
    assert response.headers["retry-after"] == "1"


def test_a_valid_call_still_runs(client: TestClient) -> None:
    status, answer = call(client, {"code": 'package main\n\nfunc main() { println("hi") }\n'})
    assert status == 200
    result = json.loads(next(line for line in answer.decode().splitlines() if line.startswith("data: "))[6:])
    assert result["result"]["isError"] is False


def test_no_log_line_grows_with_the_arguments(client: TestClient) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(BoundedRecords())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        call(client, {"code": "package main", **{f"unknown-{i}": 1 for i in range(20_000)}})
        call(client, {"files": {f"{'n' * 300}{i}.go": i for i in range(5_000)}})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = lines.getvalue().splitlines()
    assert any("rejected arguments" in line for line in logged), logged  # the SDK's record, kept
    assert max(len(line) for line in logged) <= 600


def test_a_librarys_record_is_cut_whatever_it_carries() -> None:
    record = logging.LogRecord("mcp.server.mcpserver.server", logging.INFO, "", 0, "Tool %r rejected arguments: %r",
                               ("run_go", [f"k{i}" for i in range(85_000)]), None)  # fmt: skip
    assert BoundedRecords().filter(record)
    assert len(record.getMessage()) < 600
    try:
        raise ValueError("x" * 1_000_000)
    except ValueError:
        failed = logging.LogRecord("gosandbox.x", logging.ERROR, "", 0, "failed", None, sys.exc_info())
    assert BoundedRecords().filter(failed)
    assert failed.exc_info is None
    assert failed.exc_text is not None
    assert len(failed.exc_text) < 9000
    assert failed.exc_text.startswith("Traceback")


def test_the_servers_log_set_up_bounds_every_record() -> None:
    code = (
        "import logging; from gosandbox.logs import configure_logging; configure_logging('info');"
        "logging.getLogger('mcp.server').info('%s', 'k' * 850_000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "kkkk" in done.stderr
    assert len(done.stderr) < 1000

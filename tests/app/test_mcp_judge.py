"""The judge_go tool in-process, on the fake backend (its program echoes its stdin): one build, a verdict per case,
the first difference as feedback, outputs shortened for a model, bad arguments a tool error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mcp import Client
from mcp.types import CallToolResult

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.mcp.judge import SHOWN_CHARS
from gosandbox.mcp.server import build_mcp_server
from support.app_helpers import MAIN, make_settings


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def app(tmp_path: Path, backend: FakeBackend) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path), backend=backend)
    with TestClient(app):
        yield app


def _call(app: FastAPI, arguments: dict[str, Any]) -> CallToolResult:
    server = build_mcp_server(app.state.settings, app.state.jobs)

    async def call() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("judge_go", arguments)

    return asyncio.run(call())


def test_each_case_gets_its_verdict_from_one_build(app: FastAPI, backend: FakeBackend) -> None:
    long = "x" * (SHOWN_CHARS + 10)
    cases = [{"stdin": "4\n", "expected_stdout": "4\n"}, {"name": "five", "stdin": "5\n", "expected_stdout": "4\n"},
             {"stdin": long}]  # fmt: skip
    result = _call(app, {"code": MAIN, "cases": cases})
    assert not result.is_error, result
    out = result.structured_content
    assert out is not None
    assert (out["status"], out["passed"]) == ("wrong_answer", 2)
    assert [c["status"] for c in out["cases"]] == ["accepted", "wrong_answer", "accepted"]
    assert out["cases"][1]["feedback"] == "line 1, column 1: expected '4', got '5'"
    assert len(out["cases"][2]["stdout"]) == SHOWN_CHARS
    assert len(backend.builds) == 1


def test_bad_arguments_are_a_tool_error(app: FastAPI) -> None:
    result = _call(app, {"code": MAIN, "cases": []})
    assert result.is_error
    assert "cases" in str(result.content)

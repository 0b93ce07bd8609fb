"""The explain_go tool above the fake builder answering one real compile (tests/data/explain/rich), in-process."""

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
from gosandbox.backends.base import BuildJob, BuildOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.mcp.server import build_mcp_server
from gosandbox.settings import Settings
from gosandbox.toolchain import Tool

RICH = Path(__file__).parent.parent / "data" / "explain" / "rich"
FILES = {path.relative_to(RICH / "src").as_posix(): path.read_text() for path in (RICH / "src").rglob("*")
         if path.is_file()}  # fmt: skip
RECORDS = {path.relative_to(RICH / "records").as_posix(): path.read_text() for path in (RICH / "records").rglob("*")
           if path.is_file()}  # fmt: skip


@pytest.fixture
def builds() -> list[BuildJob]:
    return []


@pytest.fixture
def app(tmp_path: Path, builds: list[BuildJob]) -> Iterator[FastAPI]:
    def build(job: BuildJob) -> BuildOutcome:
        builds.append(job)
        return BuildOutcome(True, (RICH / "output.txt").read_text(), None, 0.2, files=RECORDS)

    settings = Settings(state_dir=tmp_path, instance="test-mcp-explain", pool_size=0, binary_cache_mb=0)
    app = create_app(settings, backend=FakeBackend(build=build))
    with TestClient(app):
        yield app


def _call(app: FastAPI, arguments: dict[str, Any]) -> CallToolResult:
    server = build_mcp_server(app.state.settings, app.state.jobs)

    async def call() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool("explain_go", arguments)

    return asyncio.run(call())


def test_the_decisions_come_without_assembly(app: FastAPI, builds: list[BuildJob]) -> None:
    result = _call(app, {"files": FILES})
    assert not result.is_error
    out = result.structured_content
    assert out is not None
    assert out["status"] == "ok"
    assert out["assembly"] == []
    assert {"file": "main.go", "line": 14, "column": 9, "kind": "escapes",
            "message": "&T{...} escapes to heap"} in out["decisions"]  # fmt: skip
    assert [(job.tool, job.assembly) for job in builds] == [(Tool.EXPLAIN, False)]


def test_one_functions_assembly(app: FastAPI, builds: list[BuildJob]) -> None:
    out = _call(app, {"files": FILES, "function": "add"}).structured_content
    assert out is not None
    [add] = out["assembly"]
    assert add["function"] == "main.add"
    assert {"line": 17, "text": "ADDQ BX, AX"} in add["instructions"]
    assert builds[0].assembly is True


def test_bad_arguments_are_a_tool_error_saying_the_fix(app: FastAPI) -> None:
    result = _call(app, {"files": {"main.go": "package main", "go.mod": "module m\nreplace a => ../b\n"}})
    assert result.is_error
    assert "Fix the arguments" in str(result.content)


def test_the_tool_says_when_to_use_it(app: FastAPI) -> None:
    server = build_mcp_server(app.state.settings, app.state.jobs)

    async def tools() -> dict[str, Any]:
        async with Client(server) as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    tool = asyncio.run(tools())["explain_go"]
    assert tool.description is not None
    for words in ("escape to the heap", "inlined", "bounds checks", "without running it", "function"):
        assert words in tool.description
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint

"""The MCP tools above a fake backend, in-process: the service's failures reach the model as tool errors with the fix.

(The tools' results on the real engine, over both transports: ``test_docker_mcp.py``.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mcp import Client
from mcp.types import CallToolResult, TextContent

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.errors import EngineUnreachable, ImageMissing
from gosandbox.mcp.server import build_mcp_server
from gosandbox.settings import Settings

HELLO = 'package main\n\nfunc main() { println("hi") }\n'


class Outcomes:
    """What the fake backend's builds and runs do; a test sets them before its call."""

    def __init__(self) -> None:
        self.build: Callable[[BuildJob], BuildOutcome] = lambda job: BuildOutcome(True, "", b"binary", 0.0)
        self.execute: Callable[[ExecJob], ExecOutcome] = lambda job: ExecOutcome(0, None, b"hi\n", b"", 0.01)

    def built(self, job: BuildJob) -> BuildOutcome:
        return self.build(job)

    def executed(self, job: ExecJob) -> ExecOutcome:
        return self.execute(job)


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def app(tmp_path: Path, outcomes: Outcomes) -> Iterator[FastAPI]:
    settings = Settings(state_dir=tmp_path, instance="test-mcp-fake", pool_size=0, binary_cache_mb=0)
    backend = FakeBackend(build=outcomes.built, execute=outcomes.executed)
    app = create_app(settings, backend=backend)
    with TestClient(app):  # the lifespan: the dispatcher runs jobs
        yield app


def _call(app: FastAPI, name: str, arguments: dict[str, Any]) -> CallToolResult:
    server = build_mcp_server(app.state.settings, app.state.jobs)

    async def call() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(name, arguments)

    return asyncio.run(call())


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def _fails_with(error: Exception) -> Callable[[BuildJob], BuildOutcome]:
    def build(job: BuildJob) -> BuildOutcome:
        del job
        raise error

    return build


def test_a_result_is_structured(app: FastAPI) -> None:
    result = _call(app, "run_go", {"code": HELLO})
    assert not result.is_error
    assert result.structured_content is not None
    assert (result.structured_content["status"], result.structured_content["stdout"]) == ("ok", "hi\n")


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (EngineUnreachable("cannot connect to unix:///var/run/docker.sock"), "start the Docker engine"),
        (ImageMissing("gosandbox-runner:abc is missing"), "gosandbox image build"),
    ],
)
def test_a_service_failure_is_a_tool_error_with_the_fix(app: FastAPI, outcomes: Outcomes, error: Exception,
                                                        fix: str) -> None:  # fmt: skip
    outcomes.build = _fails_with(error)
    result = _call(app, "run_go", {"code": HELLO})
    assert result.is_error
    assert "the sandbox service could not run this" in _text(result)
    assert fix in _text(result), _text(result)


def test_a_program_failure_is_not_a_tool_error(app: FastAPI, outcomes: Outcomes) -> None:
    outcomes.execute = lambda job: ExecOutcome(2, None, b"", b"panic: boom\n", 0.01)
    result = _call(app, "run_go", {"code": HELLO})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["status"] == "runtime_error"

"""The MCP server, driven by the ``mcp`` SDK's own client: over stdio against ``gosandbox mcp``, and over
streamable HTTP against ``gosandbox serve`` at ``/mcp``; every call on the real engine.

One session per transport for the module: each runs on its own event loop thread (:class:`McpSession`),
so the tests themselves stay synchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import list_sandboxes
from support.docker_helpers import (
    TEST_INSTANCE,
    program_processes,
    reap_until_quiet,
    serving,
    wait_for_program_processes,
    wait_until_no_program_processes,
)

T = TypeVar("T")
Connect = Callable[[], AbstractAsyncContextManager[Any]]

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, agent") }\n'
UNUSED = "package main\n\nfunc main() {\n\tx := 1\n}\n"
SPIN = "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n"
TICKER = (
    'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
    "func main() {\n\tfor i := 0; i < 12; i++ {\n\t\tfmt.Println(i)\n\t\ttime.Sleep(100 * time.Millisecond)\n\t}\n}\n"
)
CALC = {
    "go.mod": "module calc\n\ngo 1.22\n",
    "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Sub(a, b int) int { return a + b }\n",
    "calc_test.go": (
        'package calc\n\nimport "testing"\n\n'
        'func TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n\t\tt.Error("Add(2, 3) != 5")\n\t}\n}\n\n'
        "func TestSub(t *testing.T) {\n\tif got := Sub(5, 3); got != 2 {\n"
        '\t\tt.Errorf("Sub(5, 3) = %d, want 2", got)\n\t}\n}\n'
    ),
}
PRINTF = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Printf("%d\\n", "text")\n}\n'
UGLY = 'package main\nimport "fmt"\nfunc main(){\nfmt.Println( "x" )\n}\n'
BROKEN = "package main\n\nfunc main() {\n"
TOOLS = {"run_go", "test_go", "vet_go", "format_go", "explain_go", "judge_go", "list_toolchains"}


class McpSession:
    """A ``ClientSession`` held open on its own event loop thread; :meth:`call` runs a tool from sync code."""

    def __init__(self, connect: Connect, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.base_url: str | None = None  # the HTTP server's, over streamable HTTP
        self.instance = ""  # the label of the server's sandboxes
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mcp-client", daemon=True)
        self.thread.start()
        self.opened = threading.Event()
        self.session: ClientSession | None = None
        self.done: asyncio.Event | None = None
        self.held = asyncio.run_coroutine_threadsafe(self._hold(connect), self.loop)
        if not self.opened.wait(timeout_s):
            raise AssertionError("the MCP session did not open in time")
        if self.held.done():
            self.held.result()  # raises what went wrong

    async def _hold(self, connect: Connect) -> None:
        self.done = asyncio.Event()
        try:
            async with connect() as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self.session = session
                self.opened.set()
                await self.done.wait()
        finally:
            self.opened.set()

    def run(self, coroutine: Callable[[ClientSession], Coroutine[Any, Any, T]]) -> T:
        assert self.session is not None
        session = self.session
        return asyncio.run_coroutine_threadsafe(coroutine(session), self.loop).result(self.timeout_s)

    def call(self, name: str, arguments: dict[str, Any], reports: list[tuple[float, str | None]] | None = None
             ) -> CallToolResult:  # fmt: skip
        """Call a tool; with ``reports``, ask for progress and collect (progress, message) of each notification."""

        async def report(progress: float, total: float | None, message: str | None) -> None:
            del total
            assert reports is not None
            reports.append((progress, message))

        callback = report if reports is not None else None
        return self.run(lambda s: s.call_tool(name, arguments, read_timeout_seconds=self.timeout_s,
                                              progress_callback=callback))  # fmt: skip

    def call_and_cancel(self, name: str, arguments: dict[str, Any], running: Callable[[], bool]) -> None:
        """Call a tool, and cancel the call (the SDK tells the server so) once ``running()`` says it runs."""

        async def call_and_cancel(session: ClientSession) -> None:
            call = asyncio.create_task(session.call_tool(name, arguments))
            while not await asyncio.to_thread(running):
                assert not call.done(), call.result()
                await asyncio.sleep(0.05)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call

        self.run(call_and_cancel)

    def close(self) -> None:
        if self.done is not None and not self.held.done():
            self.loop.call_soon_threadsafe(self.done.set)
        try:
            self.held.result(self.timeout_s)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def _mcp_env(state_dir: Path, instance: str) -> dict[str, str]:
    env = {"GOSANDBOX_STATE_DIR": str(state_dir), "GOSANDBOX_INSTANCE": instance, "GOSANDBOX_POOL_SIZE": "1",
           "GOSANDBOX_BINARY_CACHE_MB": "0", "GOSANDBOX_LOG_LEVEL": "info"}  # fmt: skip
    passed = ("PYTHONPATH", "DOCKER_HOST", "GOSANDBOX_BACKEND")  # the backend: as the test session's (conftest)
    return env | {name: os.environ[name] for name in passed if name in os.environ}


MCP_COMMAND = [sys.executable, "-m", "gosandbox.cli.main", "mcp"]


def _stdio(state_dir: Path, instance: str, stderr: TextIO) -> Connect:
    params = StdioServerParameters(command=MCP_COMMAND[0], args=MCP_COMMAND[1:], env=_mcp_env(state_dir, instance))
    return lambda: stdio_client(params, errlog=stderr)


@pytest.fixture(scope="module")
def stdio_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpSession]:
    state_dir = tmp_path_factory.mktemp("mcp-stdio")
    with (state_dir / "stderr.log").open("w") as stderr:
        session = McpSession(_stdio(state_dir, f"{TEST_INSTANCE}-stdio", stderr))
        session.instance = f"{TEST_INSTANCE}-stdio-mcp1"
        yield session
        session.close()


@pytest.fixture(scope="module")
def http_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpSession]:
    state_dir = tmp_path_factory.mktemp("mcp-http")
    with serving(state_dir, f"{TEST_INSTANCE}-mcphttp") as server:
        session = McpSession(lambda: streamable_http_client(f"{server.url}/mcp"))
        session.base_url, session.instance = server.url, server.instance
        yield session
        session.close()


@pytest.fixture(scope="module", params=["stdio", "http"])
def mcp(request: pytest.FixtureRequest) -> McpSession:
    session: McpSession = request.getfixturevalue(f"{request.param}_session")
    return session


def _structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, _text(result)
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def test_lists_the_tools_with_input_and_output_schemas(mcp: McpSession) -> None:
    tools = {tool.name: tool for tool in mcp.run(lambda s: s.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert (tool.output_schema or {}).get("type") == "object", tool.name
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.description, tool.name
    run_go = tools["run_go"]
    assert {"code", "files", "stdin", "args", "limits", "go_version"} <= set(run_go.input_schema["properties"])
    assert {"status", "exit_code", "stdout", "diagnostics", "timings_ms"} <= set(
        (run_go.output_schema or {})["properties"]
    )
    assert "no network" in (run_go.description or "")
    assert "max 30" in (run_go.description or "")  # the server's wall_s cap, in numbers


def test_run_go_runs_a_program(mcp: McpSession) -> None:
    result = _structured(mcp.call("run_go", {"code": HELLO}))
    assert (result["status"], result["exit_code"], result["stdout"]) == ("ok", 0, "hello, agent\n")
    assert result["diagnostics"] == []
    assert json.loads(_text(mcp.call("run_go", {"code": HELLO})))["stdout"] == "hello, agent\n"  # text mirrors it


def test_run_go_compile_error_is_a_result_with_positions(mcp: McpSession) -> None:
    result = _structured(mcp.call("run_go", {"files": {"main.go": UNUSED}}))
    assert (result["status"], result["exit_code"]) == ("compile_error", None)
    first = result["diagnostics"][0]
    assert (first["file"], first["line"], first["column"]) == ("main.go", 4, 2)
    assert "declared and not used" in first["message"]


def test_run_go_timeout(mcp: McpSession) -> None:
    result = _structured(mcp.call("run_go", {"code": SPIN, "limits": {"wall_s": 1}}))
    assert result["status"] == "timeout"
    assert result["timings_ms"]["run"] >= 1000


def test_run_go_reports_progress_from_the_job_events(mcp: McpSession) -> None:
    reports: list[tuple[float, str | None]] = []
    result = _structured(mcp.call("run_go", {"code": TICKER}, reports))
    assert result["stdout"] == "".join(f"{i}\n" for i in range(12))
    values, messages = [value for value, _ in reports], [message or "" for _, message in reports]
    assert values == sorted(set(values)), reports  # strictly increasing
    assert any("queued" in m for m in messages), messages
    assert any("compiled" in m for m in messages), messages
    output = [m for m in messages if "bytes of output so far" in m]
    assert len(output) >= 2, messages  # the program printed for ~1.2 s: more than one report while it ran


def test_a_cancelled_call_kills_its_sandbox(stdio_session: McpSession) -> None:
    started, instance = time.monotonic(), stdio_session.instance
    stdio_session.call_and_cancel("run_go", {"code": SPIN, "limits": {"wall_s": 20}},
                                  running=lambda: bool(program_processes(instance)))  # fmt: skip
    assert wait_until_no_program_processes(10, instance) == []
    assert time.monotonic() - started < 15  # killed, not left to run into its 20 s limit


def test_an_http_client_that_hangs_up_kills_its_sandbox(http_session: McpSession) -> None:
    """Stateless HTTP: a cancel notification arrives on a POST of its own, which cannot reach the call;
    what ends the call is its own connection closing."""
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "run_go", "arguments": {"code": SPIN, "limits": {"wall_s": 20}}}}  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    started = time.monotonic()
    with httpx.Client(timeout=30) as client, client.stream("POST", f"{http_session.base_url}/mcp", json=call,
                                                           headers=headers) as response:  # fmt: skip
        assert response.status_code == 200
        assert wait_for_program_processes(http_session.instance, 1, 20)
    assert wait_until_no_program_processes(10, http_session.instance) == []
    assert time.monotonic() - started < 15


def test_test_go_reports_each_test(mcp: McpSession) -> None:
    result = _structured(mcp.call("test_go", {"files": CALC, "cover": True}))
    assert result["passed"] is False
    statuses = {test["name"]: test["status"] for test in result["tests"]}
    assert statuses == {"TestAdd": "pass", "TestSub": "fail"}
    failed = next(test for test in result["tests"] if test["name"] == "TestSub")
    assert "Sub(5, 3) = 8, want 2" in failed["output"]
    assert (result["coverage_percent"] or 0) > 0


def test_test_go_build_error_has_positions(mcp: McpSession) -> None:
    files = {**CALC, "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + c }\n"}
    result = _structured(mcp.call("test_go", {"files": files}))
    assert (result["passed"], result["status"]) == (False, "compile_error")
    assert any(d["file"] == "calc.go" and d["line"] == 3 and "undefined: c" in d["message"]
               for d in result["diagnostics"]), result["diagnostics"]  # fmt: skip


def test_vet_go_finding_has_a_position(mcp: McpSession) -> None:
    result = _structured(mcp.call("vet_go", {"code": PRINTF}))
    finding = result["findings"][0]
    assert (finding["file"], finding["line"], finding["analyzer"]) == ("main.go", 6, "printf")
    assert "%d" in finding["message"]


def test_format_go_formats_and_reports_syntax_errors(mcp: McpSession) -> None:
    result = _structured(mcp.call("format_go", {"code": UGLY}))
    assert (result["ok"], result["changed"]) == (True, ["main.go"])
    assert result["files"]["main.go"] == 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("x")\n}\n'
    broken = _structured(mcp.call("format_go", {"code": BROKEN}))
    assert broken["ok"] is False
    assert broken["syntax_errors"][0]["file"] == "main.go"
    assert broken["syntax_errors"][0]["line"] >= 3


def test_list_toolchains(mcp: McpSession) -> None:
    result = _structured(mcp.call("list_toolchains", {}))
    assert result["go_versions"]
    assert result["default"] == result["go_versions"][0]
    assert (result["default_limits"]["wall_s"], result["max_limits"]["wall_s"]) == (5, 30)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"files": {"../escape.go": HELLO}}, "invalid arguments"),
        ({"code": HELLO, "limits": {"wall_s": 3600}}, "outside the allowed range [0.1, 30.0]"),
        ({"code": HELLO, "files": {"main.go": HELLO}}, "exactly one of"),
        ({"code": HELLO, "go_version": "go0.1"}, "choose one of"),
        ({"code": HELLO, "timeout": 5}, "timeout"),  # a misspelt argument is refused, not ignored
    ],
)
def test_bad_input_is_a_tool_error_saying_what_to_fix(mcp: McpSession, arguments: dict[str, Any],
                                                      expected: str) -> None:  # fmt: skip
    result = mcp.call("run_go", arguments)
    assert result.is_error
    assert result.structured_content is None
    assert expected in _text(result), _text(result)


def test_http_mcp_takes_posts_from_loopback_hosts_only(http_session: McpSession) -> None:
    url = f"{http_session.base_url}/mcp"
    ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    assert httpx.post(url, content=ping, headers={**headers, "Host": "attacker.example"}, timeout=10).status_code == 421
    assert httpx.get(url, headers={"Accept": "text/event-stream"}, timeout=10).status_code == 405  # no stream to hang
    assert httpx.delete(url, timeout=10).status_code == 405  # stateless: no session to end


def test_stdio_server_removes_its_sandboxes_when_stdin_closes(tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-stdioclose"
    with (tmp_path / "stderr.log").open("w") as stderr:
        session = McpSession(_stdio(tmp_path, instance, stderr))
        try:
            assert _structured(session.call("run_go", {"code": HELLO}))["status"] == "ok"
            assert list_sandboxes(connect(), f"{instance}-mcp1")  # its builder and pre-started sandbox
        finally:
            session.close()
    assert list_sandboxes(connect(), f"{instance}-mcp1") == []
    log = (tmp_path / "stderr.log").read_text()
    assert "its sandboxes are removed" in log, log  # it stopped by itself, before the client's SIGTERM


def test_stdio_server_removes_its_sandboxes_at_sigterm_with_stdin_open(tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-stdioterm"
    env = {**os.environ, **_mcp_env(tmp_path, instance)}
    with (tmp_path / "stderr.log").open("w") as stderr:
        process = subprocess.Popen(MCP_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + 30
        while not list_sandboxes(connect(), f"{instance}-mcp1"):  # its pre-started sandbox
            assert time.monotonic() < deadline, (tmp_path / "stderr.log").read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 128 + signal.SIGTERM
        assert list_sandboxes(connect(), f"{instance}-mcp1") == []  # removed by the process itself
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reap_until_quiet(f"{instance}-mcp1")  # only if the test failed: a leftover is not left for the others

"""Interactive runs on real sandboxes: the program's stdin live, its end, signals, and the bounds of a client.

The backends' live stdin under every combination (backend x runtime); the WebSocket endpoints (ours at
``/runs/interactive``, Piston's ``/api/v2/connect``) under a real uvicorn on the default combination, driven by the
``websockets`` client library as any client would.
"""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from gosandbox.app import create_app
from gosandbox.backends.base import Backend, BuildJob, ExecJob, ExecOutcome
from gosandbox.backends.live import LiveStdin
from gosandbox.limits import Limits
from support.cli_runs import Cli
from support.combinations import DEFAULT_COMBINATION, every_combination
from support.docker_helpers import TEST_INSTANCE, docker_settings
from support.inprocess_server import uvicorn_serving

GO_MOD = "module m\n\ngo 1.27\n"
#: Prompts, reads a line, answers; a second line, then EOF, ends it.
PROMPT = """package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	fmt.Print("name? ")
	line, _ := in.ReadString('\\n')
	fmt.Printf("hello %s", line)
}
"""
#: Reads until EOF and says what it got.
UNTIL_EOF = """package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	fmt.Println("ready")
	data, _ := io.ReadAll(os.Stdin)
	fmt.Printf("got %d bytes: %q\\n", len(data), data)
}
"""
#: Handles SIGINT: says so and exits 130.
ON_SIGINT = """package main

import (
	"fmt"
	"os"
	"os/signal"
)

func main() {
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	fmt.Println("waiting")
	<-interrupts
	fmt.Println("interrupted")
	os.Exit(130)
}
"""
#: Loops without end (a Ctrl-C must stop it).
LOOP = """package main

import (
	"fmt"
	"time"
)

func main() {
	for i := 0; ; i++ {
		fmt.Println("tick", i)
		time.Sleep(100 * time.Millisecond)
	}
}
"""

# --- the backends ------------------------------------------------------------------------------------------------

_BINARIES: dict[str, bytes] = {}


def _binary(backend: Backend, source: str) -> bytes:
    if source not in _BINARIES:
        built = backend.build(BuildJob(files={"main.go": source, "go.mod": GO_MOD}, timeout_s=120))
        assert built.succeeded, built.output
        assert built.binary is not None
        _BINARIES[source] = built.binary
    return _BINARIES[source]


class LiveRun:
    """One program running with live stdin in a thread; its output chunks in a queue as they come."""

    def __init__(self, backend: Backend, source: str, wall_s: float = 10.0) -> None:
        self.live = LiveStdin()
        self.chunks: queue.Queue[bytes] = queue.Queue()
        self.seen = b""
        job = ExecJob(_binary(backend, source), b"", (), Limits(wall_s=wall_s), live=self.live,
                      on_output=lambda _name, data: self.chunks.put(data))  # fmt: skip
        self.outcome: ExecOutcome | None = None
        self._thread = threading.Thread(target=self._run, args=(backend, job), daemon=True)
        self._thread.start()

    def _run(self, backend: Backend, job: ExecJob) -> None:
        self.outcome = backend.execute(job)

    def wait_for(self, text: bytes, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.seen:
            self.seen += self.chunks.get(timeout=max(0.01, deadline - time.monotonic()))

    def end(self) -> ExecOutcome:
        self._thread.join(30)
        assert self.outcome is not None
        return self.outcome


@every_combination
def test_the_program_reads_each_line_when_it_is_sent_then_eof_and_sigint(sandbox_backend: Backend) -> None:
    run = LiveRun(sandbox_backend, PROMPT)
    run.wait_for(b"name? ")  # the line goes only once the prompt is out: the program waits for it
    run.live.send(b"gopher\n")
    run.wait_for(b"hello gopher\n")
    assert run.end().exit_code == 0

    reader = LiveRun(sandbox_backend, UNTIL_EOF)
    reader.wait_for(b"ready\n")
    for part in (b"one ", b"two\n", b"\x00three"):
        reader.live.send(part)
    reader.live.close()
    reader.wait_for(b"\n", 10)
    outcome = reader.end()
    assert outcome.stdout == b'ready\ngot 14 bytes: "one two\\n\\x00three"\n'

    handler = LiveRun(sandbox_backend, ON_SIGINT)
    handler.wait_for(b"waiting\n")
    for _ in range(4):  # four times a pipe's capacity, which it never reads: the signal does not wait behind it
        handler.live.send(b"x" * 65536)
    handler.live.signal("SIGINT")
    outcome = handler.end()
    assert (outcome.stdout, outcome.exit_code, outcome.timed_out) == (b"waiting\ninterrupted\n", 130, False)


def test_the_wall_clock_limit_holds_while_the_program_waits_for_input(sandbox_backend: Backend) -> None:
    run = LiveRun(sandbox_backend, PROMPT, wall_s=1.0)
    run.wait_for(b"name? ")
    outcome = run.end()
    assert outcome.timed_out
    assert outcome.duration_s < 5


# --- the WebSocket endpoints -------------------------------------------------------------------------------------

IDLE_S = 2.0
STDIN_CAP = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A real uvicorn serving an app on the default combination, with a short idle limit and a small stdin cap."""
    settings = docker_settings(tmp_path_factory.mktemp("interactive"), instance=f"{TEST_INSTANCE}-interactive",
                               backend=DEFAULT_COMBINATION.backend, runtime=DEFAULT_COMBINATION.runtime,
                               interactive_idle_s=IDLE_S, interactive_stdin_bytes=STDIN_CAP)  # fmt: skip
    app = create_app(settings)
    with uvicorn_serving(app) as url:
        yield url, app


def _ws(url: str, path: str = "/runs/interactive", **options: Any) -> ClientConnection:
    connection: ClientConnection = connect(url.replace("http://", "ws://") + path, open_timeout=10, legacy=True,
                                           **options)  # fmt: skip
    return connection


def _start(ws: ClientConnection, source: str, **run: Any) -> str:
    ws.send(json.dumps({"type": "start", "run": {"files": {"main.go": source}, **run}}))
    first = json.loads(ws.recv(timeout=10))
    assert first["type"] == "submission", first
    return str(first["id"])


def _until(ws: ClientConnection, wanted: str, timeout_s: float = 60.0) -> tuple[str, list[dict[str, Any]]]:
    """The stdout read until it holds ``wanted``, and every event seen."""
    stdout, events = "", []
    deadline = time.monotonic() + timeout_s
    while wanted not in stdout:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        events.append(message)
        if message.get("event") == "stdout":
            stdout += message["data"]["text"]
    return stdout, events


def _rest(ws: ClientConnection) -> list[dict[str, Any]]:
    """The messages up to the server's close."""
    messages = []
    try:
        while True:
            messages.append(json.loads(ws.recv(timeout=60)))
    except ConnectionClosed:
        return messages


def test_prompt_then_answer_over_the_websocket_and_the_job_is_stored(server: tuple[str, Any]) -> None:
    url, _ = server
    with _ws(url) as ws:
        submission_id = _start(ws, PROMPT)
        _, before = _until(ws, "name? ")
        assert [e["data"]["state"] for e in before if e.get("event") == "state"] == ["queued", "running"]
        assert any(e.get("event") == "compile" and e["data"]["succeeded"] for e in before)
        ws.send(json.dumps({"type": "stdin", "data": "gopher\n"}))
        rest = _rest(ws)
        assert ws.close_code == 1000
    stdout = "".join(m["data"]["text"] for m in rest if m.get("event") == "stdout")
    assert stdout == "hello gopher\n"
    result = [m for m in rest if m.get("event") == "result"][-1]["data"]
    assert result["state"] == "done"
    assert (result["result"]["status"], result["result"]["stdout"]) == ("ok", "name? hello gopher\n")
    assert result["result"]["cpu_time_ms"] is not None
    stored = httpx.get(f"{url}/submissions/{submission_id}", timeout=10).json()
    assert (stored["state"], stored["result"]["stdout"]) == ("done", "name? hello gopher\n")


def test_eof_ends_a_reader_and_sigint_reaches_a_handler(server: tuple[str, Any]) -> None:
    url, _ = server
    with _ws(url) as ws:
        _start(ws, UNTIL_EOF)
        _until(ws, "ready\n")
        ws.send(b"binary \x00 bytes, ")
        ws.send(json.dumps({"type": "stdin", "data": "text"}))
        ws.send(json.dumps({"type": "eof"}))
        rest = _rest(ws)
    result = rest[-1]["data"]["result"]
    assert result["stdout"] == 'ready\ngot 20 bytes: "binary \\x00 bytes, text"\n'
    with _ws(url) as ws:
        _start(ws, ON_SIGINT)
        _until(ws, "waiting\n")
        ws.send(json.dumps({"type": "signal", "signal": "SIGINT"}))
        rest = _rest(ws)
    result = rest[-1]["data"]["result"]
    assert (result["stdout"], result["exit_code"]) == ("waiting\ninterrupted\n", 130)


def test_an_idle_client_is_cut_off_with_a_reason(server: tuple[str, Any]) -> None:
    url, _ = server
    with _ws(url) as ws:
        submission_id = _start(ws, PROMPT, limits={"wall_s": 20})
        _until(ws, "name? ")
        started = time.monotonic()
        messages = _rest(ws)
        assert time.monotonic() - started < IDLE_S + 3
        assert ws.close_code == 4408
        assert (ws.close_reason or "").startswith("idle: nothing sent or read for 2 s")
    assert messages[-1]["type"] == "error"
    _assert_cancelled_and_gone(url, submission_id, server[1])


def test_a_client_that_hangs_up_mid_run_leaves_no_sandbox(server: tuple[str, Any]) -> None:
    url, app = server
    with _ws(url) as ws:
        submission_id = _start(ws, LOOP, limits={"wall_s": 20})
        _until(ws, "tick 1\n")
    _assert_cancelled_and_gone(url, submission_id, app)


def test_stdin_over_the_cap_is_refused(server: tuple[str, Any]) -> None:
    url, app = server
    with _ws(url) as ws:
        submission_id = _start(ws, PROMPT)
        ws.send(json.dumps({"type": "stdin", "data": "x" * (STDIN_CAP // 2)}))
        ws.send(json.dumps({"type": "stdin", "data": "x" * (STDIN_CAP // 2 + 1)}))
        _rest(ws)
        assert ws.close_code == 4413
        assert ws.close_reason == f"stdin over its cap of {STDIN_CAP} bytes; the run is cancelled"
    _assert_cancelled_and_gone(url, submission_id, app)


@pytest.mark.parametrize("message", ["not json", '{"type": "stdin"}', '{"type": "signal", "signal": "SIGSEGV"}'])
def test_a_bad_message_closes_with_its_reason(server: tuple[str, Any], message: str) -> None:
    url, _ = server
    with _ws(url) as ws:
        _start(ws, PROMPT)
        ws.send(message)
        _rest(ws)
        assert ws.close_code == 4400
        assert ws.close_reason
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


def test_a_foreign_page_cannot_open_one_on_a_keyless_server(server: tuple[str, Any]) -> None:
    url, _ = server
    with pytest.raises(InvalidStatus) as refused:
        _ws(url, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    assert b"cross-site" in refused.value.response.body
    with _ws(url, origin=url) as ws:  # the server's own page may
        _start(ws, PROMPT)
        ws.send(json.dumps({"type": "cancel"}))
        assert _rest(ws)[-1]["data"]["state"] == "cancelled"


def _assert_cancelled_and_gone(url: str, submission_id: str, app: Any) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = httpx.get(f"{url}/submissions/{submission_id}", timeout=10).json()["state"]
        if state == "cancelled" and not _sandboxes(app):
            return
        time.sleep(0.1)
    raise AssertionError(f"submission {state}, sandboxes left: {_sandboxes(app)}")


def _sandboxes(app: Any) -> list[str]:
    backend = app.state.backend
    if hasattr(backend, "runtime"):  # the OCI backend: its state root lists them
        idle = backend.idle_sandbox_ids()  # created ahead, waiting for a run
        return [sandbox_id for sandbox_id in backend.runtime.list_ids() if sandbox_id not in idle]
    return [c.id for c in backend.client.containers.list(all=True, filters={"label": "gosandbox.role=run"})
            if c.labels.get("gosandbox.instance") == backend.config.instance]  # fmt: skip


def test_the_same_exchange_over_pistons_connect(server: tuple[str, Any]) -> None:
    url, _ = server
    with _ws(url, "/api/v2/connect") as ws:
        ws.send(json.dumps({"type": "init", "language": "go", "version": "*", "files": [{"content": PROMPT}]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "runtime"
        assert json.loads(ws.recv(timeout=10)) == {"type": "stage", "stage": "compile"}
        assert json.loads(ws.recv(timeout=120)) == {"type": "exit", "stage": "compile", "code": 0, "signal": None}
        assert json.loads(ws.recv(timeout=10)) == {"type": "stage", "stage": "run"}
        assert json.loads(ws.recv(timeout=30)) == {"type": "data", "stream": "stdout", "data": "name? "}
        ws.send(json.dumps({"type": "data", "stream": "stdin", "data": "gopher\n"}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "data", "stream": "stdout", "data": "hello gopher\n"}
        assert json.loads(ws.recv(timeout=30)) == {"type": "exit", "stage": "run", "code": 0, "signal": None}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        assert (ws.close_code, ws.close_reason) == (4999, "Job Completed")


# --- the command line --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    command = Cli(tmp_path_factory.mktemp("cli"), f"{TEST_INSTANCE}-interactive-cli")
    yield command
    command.reap()


def _read_until(stream: IO[bytes], wanted: bytes, timeout_s: float = 120.0) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout_s
    while wanted not in seen:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {wanted!r} within {timeout_s} s; saw {seen!r}"
        chunk = os.read(stream.fileno(), 4096)
        assert chunk, f"the command ended before {wanted!r}; saw {seen!r}"
        seen += chunk
    return seen


@pytest.mark.parametrize("where", ["this host", "a server"])
def test_the_cli_attaches_its_stdin_to_the_running_program(
    cli: Cli, server: tuple[str, Any], tmp_path: Path, where: str
) -> None:
    main = tmp_path / "main.go"
    main.write_text(PROMPT)
    remote = ["--server", server[0]] if where == "a server" else []
    command = [sys.executable, "-m", "gosandbox.cli.main", "run", "--interactive", *remote, str(main)]
    process = subprocess.Popen(command, env=cli.env({}), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        assert _read_until(process.stdout, b"name? ") == b"name? "  # prompted before any input was sent
        process.stdin.write(b"gopher\n")
        process.stdin.flush()
        assert _read_until(process.stdout, b"\n") == b"hello gopher\n"
        assert process.wait(60) == 0
    finally:
        process.kill()
        process.wait()

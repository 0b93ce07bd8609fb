"""Sandboxes are removed on every path: client gone, server stopped, server killed and restarted."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.wiring import config_from_settings
from support.docker_helpers import (
    TEST_INSTANCE,
    Server,
    docker_settings,
    program_processes,
    serving,
    wait_for_program_processes,
    wait_until_no_program_processes,
)

LOOP = "package main\n\nfunc main() { for {} }\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path, f"{TEST_INSTANCE}-server") as server:
        yield server


def test_sigterm_stops_cleanly_and_removes_every_sandbox(server: Server) -> None:
    assert httpx.post(f"{server.url}/run", timeout=30).json()["status"] == "ok"
    assert server.sandboxes(), "the builder and the pre-started sandboxes should exist while serving"
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert server.sandboxes() == []


SLEEPER = (
    'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
    'func main() { time.Sleep(1500 * time.Millisecond); fmt.Println("done") }\n'
)


def test_sigterm_lets_a_running_run_finish(server: Server) -> None:
    assert server.process is not None
    outcome: list[httpx.Response] = []
    client = threading.Thread(
        target=lambda: outcome.append(httpx.post(f"{server.url}/run", json={"code": SLEEPER}, timeout=30))
    )
    client.start()
    assert wait_for_program_processes(server.instance, count=1)
    server.process.send_signal(signal.SIGTERM)
    client.join()
    assert outcome[0].status_code == 200
    assert outcome[0].json()["stdout"] == "done\n"
    assert server.process.wait(timeout=60) == 0
    assert server.sandboxes() == []


def test_client_that_disconnects_gets_its_sandbox_killed(server: Server) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/run", json={"code": LOOP, "limits": {"wall_s": 30}}, timeout=2.0)
    assert program_processes(server.instance), "the endless loop should be running right after the timeout"
    # Killed within seconds of the disconnect, long before its 30 s wall limit.
    assert wait_until_no_program_processes(timeout_s=5, instance=server.instance) == []


def test_kill_9_with_8_runs_in_flight_then_restart_leaves_no_container(server: Server) -> None:
    assert server.process is not None

    def post() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{server.url}/run", json={"code": LOOP, "limits": {"wall_s": 20}}, timeout=30)

    clients = [threading.Thread(target=post) for _ in range(8)]
    for client in clients:
        client.start()
    assert wait_for_program_processes(server.instance, count=2), "two runs should be executing (two slots)"
    server.process.kill()
    server.process.wait()
    for client in clients:
        client.join()
    left_behind = set(server.sandboxes())
    assert left_behind, "a killed server leaves its sandboxes behind"
    restarted = time.monotonic()
    server.start()  # the start-up reaper removes them
    assert left_behind.isdisjoint(server.sandboxes())
    assert program_processes(server.instance) == []
    assert time.monotonic() - restarted < 10
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert server.sandboxes() == []


def test_start_sweeps_host_directories_a_crash_left(tmp_path: Path) -> None:
    settings = docker_settings(tmp_path, instance=f"{TEST_INSTANCE}-sweep")
    left = [tmp_path / kind / settings.instance / "0123abcd" for kind in ("sandboxes", "builds")]
    for directory in left:
        (directory / "src").mkdir(parents=True)
        (directory / "src" / "main.go").write_text("package main\n")
    backend = DockerBackend(config_from_settings(settings, pool_size=0))
    try:
        backend.start()
        assert [directory.exists() for directory in left] == [False, False]
    finally:
        backend.close()

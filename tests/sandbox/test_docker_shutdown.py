"""Ctrl-C on the real ``gosandbox serve`` process: once drains, twice stops now (and leaves nothing behind)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import list_sandboxes
from gosandbox.wiring import open_store
from support.docker_helpers import (
    TEST_INSTANCE,
    docker_settings,
    program_processes,
    serving,
    wait_for_program_processes,
)

SLEEP_20 = 'package main\nimport "time"\nfunc main(){time.Sleep(20*time.Second)}'
SLEEPER = (
    'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
    'func main() { time.Sleep(1500 * time.Millisecond); fmt.Println("done") }\n'
)


def _in_thread(post: Mapping[str, object], url: str) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(httpx.post(url, json=post, timeout=60)))
    thread.start()
    return thread, answers


def test_a_second_ctrl_c_stops_now_answers_503_and_leaves_nothing(tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-stop-now"
    with serving(tmp_path, instance) as server:
        body = {"code": SLEEP_20, "limits": {"wall_s": 25}}
        client, answers = _in_thread(body, f"{server.url}/run")
        queued = httpx.post(f"{server.url}/submissions", json=body, timeout=10).json()
        assert wait_for_program_processes(instance, count=2), "both 20 s programs should be running"

        server.process.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert server.process.poll() is None, "the first Ctrl-C drains: the runs go on"
        assert len(program_processes(instance)) == 2
        server.process.send_signal(signal.SIGINT)
        second = time.monotonic()
        code = server.process.wait(timeout=20)
        took = time.monotonic() - second
        client.join(timeout=20)

        assert code == 128 + signal.SIGINT
        assert took < 5, f"it took {took:.1f} s to stop (the programs would sleep 20 s)"
        answer = answers[0]
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "urn:gosandbox:problem:shutting-down"
        assert "shutting down" in answer.json()["detail"]
        log = server.stderr()
        assert "Traceback" not in log
        assert "stopping now" in log
        assert list_sandboxes(connect(), instance) == []
        assert program_processes(instance) == []

        # What the store says: the request's job was cancelled; the /submissions job is queued again.
        store = open_store(docker_settings(tmp_path, instance=instance), migrate=False)
        sync_job = store.get_light(answer.headers["x-submission-id"])
        assert sync_job is not None
        assert sync_job.state.value == "cancelled"
        async_job = store.get_light(queued["id"])
        assert async_job is not None
        assert async_job.state.value == "queued"
        store.engine.dispose()

        # ... and runs at the next start.
        server.start()
        again = server
        assert wait_for_program_processes(instance, count=1)
        assert httpx.get(f"{again.url}/submissions/{queued['id']}", timeout=10).json()["state"] == "running"
        assert httpx.delete(f"{again.url}/submissions/{queued['id']}", timeout=10).status_code == 200
        again.process.send_signal(signal.SIGTERM)
        assert again.process.wait(timeout=30) == 0
        assert list_sandboxes(connect(), instance) == []


def test_one_ctrl_c_lets_the_running_run_finish(tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-drain"
    with serving(tmp_path, instance) as server:
        client, answers = _in_thread({"code": SLEEPER}, f"{server.url}/run")
        assert wait_for_program_processes(instance, count=1)
        server.process.send_signal(signal.SIGINT)
        client.join(timeout=30)
        assert answers[0].status_code == 200
        assert answers[0].json()["stdout"] == "done\n"
        assert server.process.wait(timeout=30) == 0
        assert "Traceback" not in server.stderr()
        assert list_sandboxes(connect(), instance) == []

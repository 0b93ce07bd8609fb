"""Stopping now (a second SIGINT/SIGTERM), in-process on the FakeBackend: every waiting request answers at once.

The real process, its signals and Docker: ``test_docker_shutdown.py``.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.serve import StoppableServer
from support.app_helpers import MAIN, WAIT_S, problem_of
from support.jobs_helpers import dispatcher_of, get, read_events, serve, submit, wait_until


class Killable:
    """An execute handler that runs until its job is cancelled (its sandbox killed), as a sleeping program does."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)

    def __call__(self, job: ExecJob) -> ExecOutcome:
        self.entered.release()
        killed = job.cancel.wait(WAIT_S)
        return ExecOutcome(exit_code=None, signal=9, stdout=b"", stderr=b"", duration_s=0.0, cancelled=killed)


def test_stop_now_answers_every_waiting_request_and_leaves_the_jobs_honest(tmp_path: Path) -> None:
    killable = Killable()
    with serve(tmp_path, FakeBackend(execute=killable), max_concurrent_runs=2) as client, ThreadPoolExecutor(3) as pool:
        key = {"Idempotency-Key": "stop-now"}
        stored = client.post("/submissions", json={"code": MAIN}, headers=key).json()
        assert killable.entered.acquire(timeout=WAIT_S)
        # The same key again, with ?wait=: this request waits for that submission's end.
        waited = pool.submit(client.post, "/submissions", json={"code": MAIN}, headers=key, params={"wait": 30})
        stream = pool.submit(read_events, client, stored["id"])
        sync = pool.submit(client.post, "/run", json={"code": MAIN})
        assert killable.entered.acquire(timeout=WAIT_S)
        queued = submit(client, {"code": MAIN})  # both slots are taken: it waits for one
        time.sleep(0.3)  # the stream is open, the requests are waiting
        assert [f.done() for f in (waited, sync, stream)] == [False, False, False]

        stopped = time.monotonic()
        client.app.state.stop_now()  # type: ignore[attr-defined]
        answer, waited_answer, events = sync.result(WAIT_S), waited.result(WAIT_S), stream.result(WAIT_S)
        assert time.monotonic() - stopped < 2.0

        # The synchronous request: 503, its job cancelled.
        problem = problem_of(answer, 503, "shutting-down")
        assert problem["detail"].startswith("the server is shutting down")
        assert get(client, answer.headers["x-submission-id"])["state"] == "cancelled"
        # ?wait=: the submission as it stood; its stream ended; the job goes back to the queue.
        assert (waited_answer.status_code, waited_answer.json()["id"]) == (200, stored["id"])
        assert waited_answer.json()["state"] in ("running", "queued")
        assert [e.event for e in events] == ["state", "state", "compile"]  # queued, running, compiled; no result
        wait_until(lambda: get(client, stored["id"])["state"] == "queued")
        # The job that had not started never starts: it stays queued for the next start.
        wait_until(lambda: dispatcher_of(client).running == 0)
        assert (get(client, queued["id"])["state"], get(client, queued["id"])["attempts"]) == ("queued", 0)


def test_the_second_signal_stops_now_and_the_third_forces(tmp_path: Path) -> None:
    calls: list[str] = []
    server = StoppableServer(uvicorn.Config(FastAPI()), lambda: calls.append("stop now"))

    async def signals() -> None:
        server.loop = asyncio.get_running_loop()
        server.handle_exit(signal.SIGTERM, None)
        assert (server.should_exit, server.force_exit, server.exit_code) == (True, False, 0)
        server.handle_exit(signal.SIGINT, None)
        await asyncio.sleep(0)  # stop_now runs on the loop, not in the signal handler
        assert calls == ["stop now"]
        assert (server.force_exit, server.exit_code) == (False, 128 + signal.SIGINT)
        server.handle_exit(signal.SIGINT, None)
        assert server.force_exit
        assert calls == ["stop now"]

    asyncio.run(signals())

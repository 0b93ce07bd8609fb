"""The job queue under abuse: clients that hang up while queued cost no build; Retry-After from the drain rate.

In-process, on the FakeBackend (it counts builds and runs); the clients that hang up do so on real
sockets, against a real uvicorn serving the app on loopback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.requests import run_job
from gosandbox.errors import SandboxFailure
from gosandbox.jobs.dispatch import DrainRate, LocalDispatcher, retry_after_s
from gosandbox.jobs.service import JobService
from gosandbox.jobs.tables import SubmissionRow
from support.app_helpers import MAIN, WAIT_S, Gate, make_settings, problem_of
from support.inprocess_server import send_request, uvicorn_serving
from support.jobs_helpers import dispatcher_of, finished, stored_count, submit, wait_until
from support.responses import AnyResponse

GONE = 20


def program(text: str) -> str:
    return f'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("{text}") }}\n'


def service_of(app: FastAPI) -> JobService:
    service: JobService = app.state.jobs
    return service


def local_dispatcher(app: FastAPI) -> LocalDispatcher:
    dispatcher = service_of(app).dispatcher
    assert isinstance(dispatcher, LocalDispatcher)
    return dispatcher


def built(backend: FakeBackend) -> list[str]:
    return [job.files["main.go"] for job in backend.builds]


def states(app: FastAPI, ids: list[str]) -> list[str]:
    return [s.state.value for s in service_of(app).store.get_many(ids)]


# --- clients that hang up -----------------------------------------------------------------------


@contextmanager
def one_slot_server(tmp_path: Path, backend: FakeBackend) -> Iterator[tuple[FastAPI, str]]:
    app = create_app(make_settings(tmp_path, max_concurrent_runs=1, max_queued=GONE + 5), backend=backend)
    with uvicorn_serving(app) as url:
        yield app, url


def _slow_store_cancel(app: FastAPI, monkeypatch: pytest.MonkeyPatch, delay_s: float) -> None:
    """Each cancel waits ``delay_s`` before the store records it: what a busy thread pool did under a parse
    flood (the store's cancel of a gone client's job came 4.7 s after the client left)."""
    store = service_of(app).store
    cancel = store.cancel

    def slow(submission_id: str) -> Any:
        time.sleep(delay_s)
        return cancel(submission_id)

    monkeypatch.setattr(store, "cancel", slow)


@pytest.mark.parametrize("store_delay_s", [0.0, 1.0], ids=["store-answers-at-once", "store-cancel-slow"])
def test_clients_that_hang_up_while_queued_cost_no_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, store_delay_s: float
) -> None:
    gate = Gate()
    backend = FakeBackend(execute=gate)
    caplog.set_level(logging.INFO)
    with one_slot_server(tmp_path, backend) as (app, url), ExitStack() as stack:
        stack.callback(gate.release.set)
        _slow_store_cancel(app, monkeypatch, store_delay_s)
        holder = threading.Thread(target=lambda: httpx.post(f"{url}/run", json={"code": program("hold")}, timeout=30))
        holder.start()
        assert gate.entered.acquire(timeout=WAIT_S), "the first run should hold the only slot"

        clients = [send_request(url, "/run", _json({"code": program(f"gone {i}")})) for i in range(GONE)]
        dispatcher = local_dispatcher(app)
        wait_until(lambda: dispatcher.waiting == GONE)
        gone_ids = service_of(app).store.queued_ids()
        assert len(gone_ids) == GONE
        for client in clients:
            client.close()
        time.sleep(0.3)  # the server sees each hang-up at once; the store may still be busy
        gate.release.set()
        holder.join(timeout=WAIT_S)

        wait_until(lambda: all(s in ("done", "failed", "cancelled") for s in states(app, gone_ids)), timeout=30)
        wait_until(lambda: dispatcher.running == dispatcher.waiting == 0)
        ended = states(app, gone_ids)
        started = time.monotonic()
        fresh = httpx.post(f"{url}/run", json={"code": program("fresh")}, timeout=10)
        took = time.monotonic() - started

    assert not [p for p in built(backend) if "gone" in p], "a program of a client that hung up was compiled"
    assert ended == ["cancelled"] * GONE
    assert built(backend) == [program("hold"), program("fresh")]
    assert len(backend.executions) == 2
    assert fresh.status_code == 200, fresh.text
    assert took < 1.0, f"the fresh request took {took:.2f} s"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "timeout" in r.getMessage()]
    assert sum("client went away; cancelling" in r.getMessage() for r in caplog.records) == GONE


def _json(body: dict[str, Any]) -> bytes:
    return httpx.Request("POST", "http://x", json=body).read()


def test_a_client_gone_before_its_job_is_stored_submits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    parsed = threading.Event()

    def slow_run_job(*args: Any) -> Any:
        time.sleep(0.5)  # the client hangs up meanwhile
        job = run_job(*args)
        parsed.set()
        return job

    monkeypatch.setattr("gosandbox.api.programs.run_job", slow_run_job)
    backend = FakeBackend()
    caplog.set_level(logging.INFO)
    with one_slot_server(tmp_path, backend) as (app, url):
        client = send_request(url, "/run", _json({"code": program("gone")}))
        time.sleep(0.1)  # its body is read; it is being parsed
        client.close()
        assert parsed.wait(WAIT_S)
        time.sleep(0.3)
        with service_of(app).store.engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(SubmissionRow)) == 0
    assert backend.builds == []
    assert any("before its job was stored" in r.getMessage() for r in caplog.records)


def test_a_job_cancelled_while_it_builds_is_never_run(tmp_path: Path) -> None:
    """Cancelled during its build: no sandbox, no "timeout" verdict; it stays cancelled."""
    building, go_on = threading.Event(), threading.Event()

    def build(job: BuildJob) -> BuildOutcome:
        building.set()
        if not go_on.wait(WAIT_S):
            raise SandboxFailure("the test never let the build finish")
        return BuildOutcome(succeeded=True, output="", binary=b"binary", duration_s=0.0)

    backend = FakeBackend(build=build)
    with TestClient(create_app(make_settings(tmp_path), backend=backend)) as client:
        submission_id = submit(client, {"code": MAIN})["id"]
        assert building.wait(WAIT_S)
        assert client.delete(f"/submissions/{submission_id}").status_code == 200
        go_on.set()
        final = finished(client, submission_id)
        dispatcher = dispatcher_of(client)
        wait_until(lambda: dispatcher.running == 0)
    assert (final["state"], final["result"]) == ("cancelled", None)
    assert len(backend.builds) == 1
    assert backend.executions == []


def test_a_job_cancelled_before_its_claim_is_not_built(tmp_path: Path) -> None:
    """The cancel switch thrown, the store not told yet: the job is neither claimed nor built."""
    gate = Gate()
    backend = FakeBackend(execute=gate)
    with TestClient(create_app(make_settings(tmp_path, max_concurrent_runs=1), backend=backend)) as client:
        try:
            submit(client, {"code": program("hold")})
            assert gate.entered.acquire(timeout=WAIT_S)
            queued = submit(client, {"code": program("queued")})
            dispatcher_of(client).cancel_running(queued["id"])  # what abandon() does first, on the loop
        finally:
            gate.release.set()
        dispatcher = dispatcher_of(client)
        wait_until(lambda: dispatcher.running == dispatcher.waiting == 0)
    assert built(backend) == [program("hold")]


# --- Retry-After --------------------------------------------------------------------------------


def test_the_estimate_is_the_queue_over_the_drain_rate_within_1_to_60() -> None:
    assert retry_after_s(40, 2, jobs_per_s=4.0) == 10
    assert retry_after_s(41, 2, jobs_per_s=4.0) == 11  # rounded up
    assert retry_after_s(1, 2, jobs_per_s=50.0) == 1
    assert retry_after_s(0, 2, jobs_per_s=4.0) == 1
    assert retry_after_s(1000, 2, jobs_per_s=0.5) == 60
    assert retry_after_s(40, 2, jobs_per_s=None) == 21  # nothing measured: one second per round of the slots
    assert retry_after_s(40, 2, jobs_per_s=0.0) == 21
    depths = [retry_after_s(depth, 2, jobs_per_s=2.0) for depth in (2, 10, 40, 200)]
    assert depths == sorted(depths)
    assert depths[0] < depths[-1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_drain_rate_is_measured_over_a_window() -> None:
    clock = Clock()
    rate = DrainRate(window_s=60.0, keep=256, clock=clock)
    assert rate.per_second() is None
    rate.finished()
    assert rate.per_second() is None  # one end is no rate
    for _ in range(10):
        clock.now += 0.25
        rate.finished()
    assert rate.per_second() == pytest.approx(4.0)
    clock.now += 2.5  # nothing finished since: the queue is draining slower
    assert rate.per_second() == pytest.approx(10 / 5.0)
    clock.now += 61  # every end left the window
    assert rate.per_second() is None


def test_the_drain_rate_keeps_only_the_latest_ends() -> None:
    clock = Clock()
    rate = DrainRate(window_s=60.0, keep=5, clock=clock)
    for step in (10.0, 10.0, 0.1, 0.1, 0.1, 0.1, 0.1):
        clock.now += step
        rate.finished()
    assert rate.per_second() == pytest.approx(4 / 0.4)


class Paced:
    """An execute handler: each run waits for one ``allow()``."""

    def __init__(self) -> None:
        self.tokens = threading.Semaphore(0)
        self.done = threading.Semaphore(0)

    def allow(self, count: int = 1) -> None:
        for _ in range(count):
            self.tokens.release()

    def __call__(self, job: ExecJob) -> ExecOutcome:
        if not self.tokens.acquire(timeout=WAIT_S):
            raise SandboxFailure("the test never let the run end")
        self.done.release()
        return ExecOutcome(exit_code=0, signal=None, stdout=b"", stderr=b"", duration_s=0.0)


def _refusal(response: AnyResponse) -> int:
    problem_of(response, 429, "overloaded")
    return int(response.headers["retry-after"])


def test_a_full_queue_answers_429_with_a_retry_after_that_grows_with_its_depth(tmp_path: Path) -> None:
    paced, depth = Paced(), 24
    settings = make_settings(tmp_path, max_concurrent_runs=1, max_queued=depth, max_body_bytes=256 * 1024)
    with TestClient(create_app(settings, backend=FakeBackend(execute=paced))) as client:
        try:
            for _ in range(5):  # measured: a job ends every 0.2 s, about 5 a second
                submit(client, {"code": MAIN})
            for _ in range(5):
                paced.allow()
                assert paced.done.acquire(timeout=WAIT_S)
                time.sleep(0.2)
            dispatcher = dispatcher_of(client)
            wait_until(lambda: dispatcher.running == dispatcher.waiting == 0)
            submit(client, {"code": MAIN})  # holds the slot
            assert _fill(client, 4, lambda: dispatcher.waiting) == 4
            batch = {"submissions": [{"code": MAIN}] * (depth + 1)}
            shallow = _refusal(client.post("/submissions/batch", json=batch))  # no room for 25 more behind 4
            assert _fill(client, depth - 4, lambda: dispatcher.waiting) == depth
            deep = _refusal(client.post("/run", json={"code": MAIN}))
            rate = dispatcher.drain.per_second()
        finally:
            paced.allow(100)
        assert stored_count(client) == 5 + 1 + depth
    assert rate is not None
    assert 1.0 < rate < 5.0
    assert shallow < deep, (shallow, deep)
    assert abs(deep - depth / rate) <= 1.5, (deep, rate)  # the queue over the rate, rounded up
    assert deep < retry_after_s(depth, 1), "the measured rate, not the fallback, sets it"


def _fill(client: TestClient, count: int, waiting: Callable[[], int]) -> int:
    for _ in range(count):
        submit(client, {"code": MAIN})
    return waiting()

"""Fairness between API keys on the server's own run slots: round robin, and a per-key cap while others wait.

Two or three real keys on the in-process app; the fake backend holds every run until the test lets it
end, so the order in which jobs start is the dispatcher's alone (runs are named by their stdin).
Synchronous ``/run`` takes a slot as a submission does, so it waits its turn the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.errors import SandboxFailure
from gosandbox.jobs.dispatch import LocalDispatcher
from support.app_helpers import MAIN, WAIT_S, make_settings
from support.jobs_helpers import finished
from support.tenants import Tenant, tenants


class Turns:
    """An execute handler: each run is named by its stdin, recorded as it starts, and held until ended."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._ended: set[str] = set()
        self._over = False  # every run, started or to come, ends at once
        self._changed = threading.Condition()

    def __call__(self, job: ExecJob) -> ExecOutcome:
        name = job.stdin.decode()
        with self._changed:
            self.started.append(name)
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._over or name in self._ended, WAIT_S):
                raise SandboxFailure(f"the test never ended run {name}")
        return ExecOutcome(exit_code=0, signal=None, stdout=job.stdin, stderr=b"", duration_s=0.0)

    def wait_started(self, count: int) -> list[str]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.started) >= count, WAIT_S), self.started
            return list(self.started)

    def running(self) -> list[str]:
        """The runs started and not ended, oldest first."""
        with self._changed:
            return [n for n in self.started if n not in self._ended]

    def end(self, *names: str) -> None:
        with self._changed:
            self._ended.update(names)
            self._changed.notify_all()

    def end_all(self) -> None:
        with self._changed:
            self._over = True
            self._changed.notify_all()


@pytest.fixture
def turns() -> Iterator[Turns]:
    held = Turns()
    yield held
    held.end_all()


def submit(tenant: Tenant, name: str) -> str:
    response = tenant.post("/submissions", json={"files": {"main.go": MAIN}, "stdin": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def flood(tenant: Tenant, count: int) -> list[str]:
    return [submit(tenant, f"{tenant.name}{n}") for n in range(count)]


def end_one_at_a_time(turns: Turns, count: int) -> list[str]:
    """End the oldest running run, wait for the next start; ``count`` times. The starts, in order."""
    for _ in range(count):
        started = turns.wait_started(1)
        turns.end(turns.running()[0])
        turns.wait_started(len(started) + 1)
    return list(turns.started)


def test_a_flood_of_one_key_does_not_starve_another_keys_run_or_submission(tmp_path: Path, turns: Turns) -> None:
    """Key A queues six jobs before B's synchronous /run and C's submission: B and C start at the next free slots."""
    with tenants(tmp_path, backend=FakeBackend(execute=turns), max_concurrent_runs=2, max_queued=10) as app:
        ann, bob, cyd = app.tenant("ann"), app.tenant("bob"), app.tenant("cyd")
        flood(ann, 6)
        assert sorted(turns.wait_started(2)) == ["ann0", "ann1"]  # alone, a key uses every slot
        with ThreadPoolExecutor(1) as pool:
            answer: Future[object] = pool.submit(
                lambda: bob.post("/run", json={"files": {"main.go": MAIN}, "stdin": "bob-run"})
            )
            _wait_queued(app.service.dispatcher, 5)
            submit(cyd, "cyd0")
            order = end_one_at_a_time(turns, 3)
            turns.end_all()
            assert answer.result(WAIT_S).status_code == 200  # type: ignore[attr-defined]
    # Before: ann0 ann1 ann2 ann3 ann4 ann5 bob-run cyd0 (first come, first served).
    assert order[2:] == ["bob-run", "cyd0", "ann2"]


def test_the_per_key_cap_holds_while_another_key_waits(tmp_path: Path, turns: Turns) -> None:
    """Four slots, the default cap of two: A, alone, fills them; B's jobs then take every slot A frees until
    each key runs two, and the keys take turns from there."""
    with tenants(tmp_path, backend=FakeBackend(execute=turns), max_concurrent_runs=4, max_queued=20) as app:
        ann, bob = app.tenant("ann"), app.tenant("bob")
        flood(ann, 8)
        assert sorted(turns.wait_started(4)) == ["ann0", "ann1", "ann2", "ann3"]
        flood(bob, 4)
        order = end_one_at_a_time(turns, 4)
        turns.end_all()
    # ann0 ends: A runs 3 (above the cap) → bob0; ann1 ends: A runs 2 (at it), B 1 → bob1; from then on
    # each key runs two, and a slot A frees goes to A (B is at its cap). Before: ann4 ann5 ann6 ann7.
    assert order[4:] == ["bob0", "bob1", "ann4", "ann5"]


def test_a_set_cap_of_one_gives_every_waiting_key_a_slot_before_a_second(tmp_path: Path, turns: Turns) -> None:
    """GOSANDBOX_MAX_RUNNING_PER_KEY=1 on three slots: B and C each start one before A (which ran all three) and
    before either starts a second."""
    with tenants(tmp_path, backend=FakeBackend(execute=turns), max_concurrent_runs=3, max_queued=20,
                 max_running_per_key=1) as app:  # fmt: skip
        ann, bob, cyd = app.tenant("ann"), app.tenant("bob"), app.tenant("cyd")
        flood(ann, 6)
        turns.wait_started(3)
        flood(bob, 3)
        flood(cyd, 3)
        order = end_one_at_a_time(turns, 3)
        turns.end_all()
    assert order[3:] == ["bob0", "cyd0", "ann3"]  # before: ann3 ann4 ann5


def _wait_queued(dispatcher: object, count: int) -> None:
    """Until the server's own slots hold ``count`` waiting jobs (a synchronous request's job is stored)."""
    assert isinstance(dispatcher, LocalDispatcher)
    event = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if dispatcher.waiting >= count:
            return
        event.wait(0.01)
    raise AssertionError(f"{dispatcher.waiting} jobs waiting, not {count}")


def _echo(job: ExecJob) -> ExecOutcome:
    return ExecOutcome(exit_code=0, signal=None, stdout=job.stdin, stderr=b"", duration_s=0.0)


def test_the_server_s_slots_serve_again_when_the_lifespan_starts_a_second_time(tmp_path: Path) -> None:
    """An application whose lifespan ends and starts again (a test client opened twice) runs jobs again."""
    app = create_app(make_settings(tmp_path), backend=FakeBackend(execute=_echo))
    for round_ in ("first", "second"):
        with TestClient(app) as http:
            response = http.post("/submissions", json={"files": {"main.go": MAIN}, "stdin": round_})
            assert response.status_code == 201, response.text
            # Polled, not a synchronous /run: a job no slot takes must fail the test, not hang it.
            assert finished(http, response.json()["id"])["result"]["stdout"] == round_

"""The submission store on both of its databases, SQLite (a file) and PostgreSQL, both real.

What it proves: the migrations are idempotent and safe to run from two nodes at once; submissions
and their requests survive the round trip; an idempotency key makes one row however many callers
race; every state change is a compare-and-set, so of racing claimers exactly one runs a job, a job
is finished at most once and never after it was cancelled or re-run; the recovery sweeps
(``requeue_lost``, ``abandon_sync``, ``fail_stale``) touch only the jobs they own; ``purge`` deletes
only old finished jobs; and a database that does not answer becomes ``StoreUnavailable`` without
leaking its password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Engine, update

from gosandbox.errors import StoreUnavailable
from gosandbox.gotest import TestOptions
from gosandbox.jobs.migrate import current_revision, upgrade
from gosandbox.jobs.store import Claim, ClaimOutcome, Store, make_engine
from gosandbox.jobs.submission import JobRequest, Kind, State, Submission
from gosandbox.jobs.tables import SubmissionRow
from gosandbox.limits import Limits
from gosandbox.source import make_spec
from support.jobs_helpers import sample_request

T = TypeVar("T")

HEAD = "0004"
ORIGIN = "api-1"
WORKER = "worker-1"
TOKEN = "message-1"
MAX_ATTEMPTS = 3
THREADS = 8
LONG_AGO = 1_000_000.0  # 1970-01-12: before any cutoff the tests use


# --- fixtures -------------------------------------------------------------------------------------


# --- helpers --------------------------------------------------------------------------------------


def same_database(engine: Engine) -> Engine:
    """Another engine (another node's pool) on the database of ``engine``."""
    return make_engine(engine.url.render_as_string(hide_password=False))


def in_threads(count: int, work: Callable[[int], T], timeout_s: float = 30) -> list[T]:
    """``work(0)`` … ``work(count - 1)``, each on its own thread, released at the same moment.

    The first error of any thread is raised here; a deadlock fails the test instead of hanging it.
    """
    barrier = threading.Barrier(count, timeout=10)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], f"threads still running after {timeout_s} s: a deadlock?"
    if errors:
        raise errors[0]
    return [results[i] for i in range(count)]


def queued(store: Store, *, origin: str = ORIGIN, sync: bool = False) -> str:
    submission, created = store.create(sample_request(), origin=origin, sync=sync)
    assert created
    return submission.id


def running(store: Store, *, worker: str = WORKER, origin: str = ORIGIN, sync: bool = False) -> str:
    """A job claimed by ``worker`` with :data:`TOKEN` (its attempt 1)."""
    submission_id = queued(store, origin=origin, sync=sync)
    assert store.claim(submission_id, TOKEN, worker, MAX_ATTEMPTS) == ClaimOutcome(Claim.RUN, 1)
    return submission_id


def finished(store: Store, state: State) -> str:
    """A job that ended ``state`` (cancelled while queued, or finished by its attempt 1)."""
    if state is State.CANCELLED:
        submission_id = queued(store)
        assert store.cancel(submission_id) is State.QUEUED
    else:
        submission_id = running(store)
        assert store.finish(submission_id, 1, state, result={"status": "ok"})
    return submission_id


def got(store: Store, submission_id: str) -> Submission:
    submission = store.get(submission_id)
    assert submission is not None, f"submission {submission_id} is gone"
    return submission


def state_of(store: Store, submission_id: str) -> State:
    return got(store, submission_id).state


def assert_failed_with(submission: Submission, slug: str) -> None:
    assert submission.state is State.FAILED
    assert submission.error is not None
    assert submission.error["type"] == f"urn:gosandbox:problem:{slug}"
    assert submission.finished_at is not None


def backdate(store: Store, submission_id: str, **times: float) -> None:
    """Set time columns (``enqueued_at``, ``started_at``, ``finished_at``) of a row directly."""
    with store.engine.begin() as connection:
        connection.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id).values(**times))


# --- migrations -----------------------------------------------------------------------------------


def test_a_fresh_database_has_no_revision(engine: Engine) -> None:
    assert current_revision(engine) is None


def test_upgrade_twice_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == HEAD
    assert Store(engine).count_queued() == 0


def test_upgrade_brings_the_schema_to_head(store: Store) -> None:
    assert current_revision(store.engine) == HEAD


def test_two_nodes_upgrading_a_fresh_database_at_once_both_succeed(engine: Engine) -> None:
    nodes = [same_database(engine) for _ in range(2)]
    try:
        in_threads(2, lambda i: upgrade(nodes[i]))  # an error in either thread is raised here
    finally:
        for node in nodes:
            node.dispose()
    assert current_revision(engine) == HEAD
    assert Store(engine).count_queued() == 0


def test_first_connections_to_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL from two connections at once is a deadlock SQLite reports at once."""
    for round_ in range(20):
        engines = [make_engine(f"sqlite:///{tmp_path}/new-{round_}.db") for _ in range(4)]
        connect_at_once(engines)


def connect_at_once(engines: list[Engine]) -> None:
    try:
        in_threads(len(engines), lambda i: engines[i].connect().close())
    finally:
        for engine in engines:
            engine.dispose()


# --- creating and reading -------------------------------------------------------------------------


def test_create_stores_a_queued_submission(store: Store) -> None:
    submission, created = store.create(sample_request(), origin=ORIGIN, callback_url="https://example.com/hook")
    assert created
    assert (submission.state, submission.kind, submission.attempts) == (State.QUEUED, Kind.RUN, 0)
    assert submission.callback_url == "https://example.com/hook"
    assert store.get(submission.id) == submission


def test_get_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.get("0" * 32) is None


def test_get_many_keeps_the_order_asked_and_leaves_out_unknown_ids(store: Store) -> None:
    a, b, c = (queued(store) for _ in range(3))
    assert [s.id for s in store.get_many([c, a, "unknown", b])] == [c, a, b]
    assert store.get_many([]) == []


def test_a_request_survives_the_json_round_trip(store: Store) -> None:
    code = 'package main\n\nfunc main() { println("héllo, 世界 ✓") }\n'
    spec = make_spec(
        {"main.go": code, "util/util.go": "package util\n"},
        stdin=bytes(range(256)) + b"\xff\xfe\x80 not utf-8",
        args=("-n", "3", "ünïcode"),
        limits=Limits(wall_s=2.5, memory_mb=64, cpus=0.5, pids=16, output_bytes=1000),
        go_version="1.22",
    )
    request = JobRequest(Kind.TEST, spec, TestOptions(run="^TestX$", count=2, cover=True), ("main.go",))
    submission, _ = store.create(request, origin=ORIGIN)
    stored = got(store, submission.id)
    assert JobRequest.from_json(stored.request) == request
    assert stored.go_version == "1.22"
    assert stored.kind is Kind.TEST


def test_an_idempotency_key_returns_the_first_submission(store: Store) -> None:
    first, created_first = store.create(sample_request(), origin=ORIGIN, idempotency_key="key-1")
    again, created_again = store.create(sample_request(kind=Kind.VET), origin=ORIGIN, idempotency_key="key-1")
    other, created_other = store.create(sample_request(), origin=ORIGIN, idempotency_key="key-2")
    assert (created_first, created_again, created_other) == (True, False, True)
    assert again == first
    assert other.id != first.id
    assert store.find_by_key("key-1") == first


def test_concurrent_creates_with_one_key_make_one_row(store: Store) -> None:
    results = in_threads(THREADS, lambda _: store.create(sample_request(), origin=ORIGIN, idempotency_key="same"))
    assert len({submission.id for submission, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    assert store.count_queued() == 1


# --- claim ----------------------------------------------------------------------------------------


def test_claiming_a_queued_job_runs_attempt_1(store: Store) -> None:
    submission_id = queued(store)
    assert store.claim(submission_id, TOKEN, WORKER, MAX_ATTEMPTS) == ClaimOutcome(Claim.RUN, 1)
    submission = got(store, submission_id)
    assert (submission.state, submission.attempts, submission.worker) == (State.RUNNING, 1, WORKER)
    assert submission.started_at is not None


def test_a_claim_with_another_token_while_running_skips(store: Store) -> None:
    submission_id = running(store)
    assert store.claim(submission_id, "message-2", "worker-2", MAX_ATTEMPTS).claim is Claim.SKIP
    submission = got(store, submission_id)
    assert (submission.attempts, submission.worker) == (1, WORKER)


def test_a_redelivery_of_the_same_token_runs_attempt_2(store: Store) -> None:
    submission_id = running(store)
    assert store.claim(submission_id, TOKEN, "worker-2", MAX_ATTEMPTS) == ClaimOutcome(Claim.RUN, 2)
    submission = got(store, submission_id)
    assert (submission.state, submission.attempts, submission.worker) == (State.RUNNING, 2, "worker-2")


def test_a_redelivery_past_max_attempts_is_lost_and_fails_the_job(store: Store) -> None:
    submission_id = running(store)  # attempt 1
    assert store.claim(submission_id, TOKEN, WORKER, 2) == ClaimOutcome(Claim.RUN, 2)
    assert store.claim(submission_id, TOKEN, WORKER, 2).claim is Claim.LOST
    submission = got(store, submission_id)
    assert_failed_with(submission, "worker-lost")
    assert submission.error is not None
    assert "worker lost" in submission.error["detail"]
    assert store.claim(submission_id, TOKEN, WORKER, 2).claim is Claim.SKIP  # failed stays failed


@pytest.mark.parametrize("state", [State.CANCELLED, State.DONE, State.FAILED])
def test_claiming_a_finished_job_skips(store: Store, state: State) -> None:
    submission_id = finished(store, state)
    assert store.claim(submission_id, TOKEN, WORKER, MAX_ATTEMPTS).claim is Claim.SKIP
    assert store.claim(submission_id, "message-2", WORKER, MAX_ATTEMPTS).claim is Claim.SKIP
    assert state_of(store, submission_id) is state


def test_claiming_an_unknown_job_skips(store: Store) -> None:
    assert store.claim("0" * 32, TOKEN, WORKER, MAX_ATTEMPTS).claim is Claim.SKIP


def test_of_eight_concurrent_claims_exactly_one_runs(store: Store) -> None:
    submission_id = queued(store)
    outcomes = in_threads(THREADS, lambda i: store.claim(submission_id, f"message-{i}", f"worker-{i}", MAX_ATTEMPTS))
    assert sorted(o.claim.value for o in outcomes) == ["run"] + ["skip"] * (THREADS - 1)
    winner = next(i for i, o in enumerate(outcomes) if o.claim is Claim.RUN)
    assert outcomes[winner].attempt == 1
    submission = got(store, submission_id)
    assert (submission.attempts, submission.worker) == (1, f"worker-{winner}")


# --- finish ---------------------------------------------------------------------------------------


def test_finish_succeeds_once(store: Store) -> None:
    submission_id = running(store)
    assert store.finish(submission_id, 1, State.DONE, result={"status": "ok", "stdout": "hello\n"})
    assert not store.finish(submission_id, 1, State.FAILED, error={"type": "late"})
    submission = got(store, submission_id)
    assert (submission.state, submission.error) == (State.DONE, None)
    assert submission.result == {"status": "ok", "stdout": "hello\n"}
    assert submission.finished_at is not None


def test_finish_after_cancel_is_refused(store: Store) -> None:
    submission_id = running(store)
    assert store.cancel(submission_id) is State.RUNNING
    assert not store.finish(submission_id, 1, State.DONE, result={"status": "ok"})
    submission = got(store, submission_id)
    assert (submission.state, submission.result) == (State.CANCELLED, None)


def test_finish_by_a_stale_attempt_after_a_rerun_is_refused(store: Store) -> None:
    submission_id = running(store)
    assert store.claim(submission_id, TOKEN, "worker-2", MAX_ATTEMPTS) == ClaimOutcome(Claim.RUN, 2)
    assert not store.finish(submission_id, 1, State.DONE, result={"by": "attempt 1"})
    assert store.finish(submission_id, 2, State.DONE, result={"by": "attempt 2"})
    assert got(store, submission_id).result == {"by": "attempt 2"}


def test_finish_of_a_queued_job_is_refused(store: Store) -> None:
    submission_id = queued(store)
    assert not store.finish(submission_id, 0, State.DONE, result={"status": "ok"})
    assert state_of(store, submission_id) is State.QUEUED


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_of_a_queued_job(store: Store) -> None:
    submission_id = queued(store)
    assert store.cancel(submission_id) is State.QUEUED
    submission = got(store, submission_id)
    assert submission.state is State.CANCELLED
    assert submission.finished_at is not None


def test_cancel_of_a_running_job(store: Store) -> None:
    submission_id = running(store)
    assert store.cancel(submission_id) is State.RUNNING
    assert state_of(store, submission_id) is State.CANCELLED


@pytest.mark.parametrize("state", [State.DONE, State.FAILED, State.CANCELLED])
def test_cancel_of_a_finished_job_returns_its_state_unchanged(store: Store, state: State) -> None:
    submission_id = finished(store, state)
    before = got(store, submission_id)
    assert store.cancel(submission_id) is state
    assert got(store, submission_id) == before


def test_cancel_of_an_unknown_job_is_none(store: Store) -> None:
    assert store.cancel("0" * 32) is None


# --- recovery sweeps ------------------------------------------------------------------------------


def test_requeue_lost_requeues_or_fails_only_that_workers_jobs(store: Store) -> None:
    retry = running(store)
    exhausted = running(store)
    for _ in range(MAX_ATTEMPTS - 1):
        assert store.claim(exhausted, TOKEN, WORKER, MAX_ATTEMPTS).claim is Claim.RUN
    others = running(store, worker="worker-2")
    waiting = queued(store)

    assert store.requeue_lost(WORKER, MAX_ATTEMPTS) == ([retry], [exhausted])  # (requeued, failed)

    assert state_of(store, retry) is State.QUEUED
    assert_failed_with(got(store, exhausted), "worker-lost")
    assert state_of(store, others) is State.RUNNING
    assert state_of(store, waiting) is State.QUEUED
    assert store.claim(retry, "message-2", WORKER, MAX_ATTEMPTS) == ClaimOutcome(Claim.RUN, 2)


def test_abandon_sync_fails_only_the_active_sync_jobs_of_that_origin(store: Store) -> None:
    orphans = {queued(store, sync=True), running(store, sync=True)}
    untouched = {
        queued(store): State.QUEUED,  # asynchronous: no client waits on it
        queued(store, origin="api-2", sync=True): State.QUEUED,
        running(store, origin="api-2", sync=True): State.RUNNING,
    }
    done = finished(store, State.DONE)

    assert set(store.abandon_sync(ORIGIN)) == orphans

    for submission_id in orphans:
        assert_failed_with(got(store, submission_id), "server-stopped")
    assert {i: state_of(store, i) for i in untouched} == untouched
    assert got(store, done).error is None


def test_fail_stale_fails_only_long_running_jobs(store: Store) -> None:
    stale, fresh, waiting = running(store), running(store), queued(store)
    backdate(store, stale, started_at=LONG_AGO)
    backdate(store, waiting, enqueued_at=LONG_AGO)

    assert store.fail_stale(started_before=time.time() - 60) == [stale]

    assert_failed_with(got(store, stale), "worker-lost")
    assert (state_of(store, fresh), state_of(store, waiting)) == (State.RUNNING, State.QUEUED)


# --- the queue's bookkeeping ----------------------------------------------------------------------


def test_queued_ids_in_enqueue_order(store: Store) -> None:
    late, early, claimed = queued(store), queued(store), queued(store)
    backdate(store, late, enqueued_at=LONG_AGO + 2)
    backdate(store, early, enqueued_at=LONG_AGO + 1)
    assert store.claim(claimed, TOKEN, WORKER, MAX_ATTEMPTS).claim is Claim.RUN
    fresh = queued(store)

    assert store.queued_ids() == [early, late, fresh]
    assert store.queued_ids(limit=1) == [early]
    assert store.queued_ids(enqueued_before=LONG_AGO + 10) == [early, late]
    assert store.count_queued() == 3


def test_mark_enqueued_resets_enqueued_at(store: Store) -> None:
    old, other = queued(store), queued(store)
    backdate(store, old, enqueued_at=LONG_AGO)
    backdate(store, other, enqueued_at=LONG_AGO)
    cutoff = time.time() - 60
    assert set(store.queued_ids(enqueued_before=cutoff)) == {old, other}

    store.mark_enqueued([old])

    assert store.queued_ids(enqueued_before=cutoff) == [other]


def test_events_and_callback_are_stored(store: Store) -> None:
    submission_id = finished(store, State.DONE)
    events = [{"type": "stdout", "data": "hello\n"}, {"type": "end", "status": "ok"}]
    outcome = {"delivered": True, "status_code": 204, "attempts": 1}
    store.set_events(submission_id, events)
    store.set_callback(submission_id, outcome)
    submission = got(store, submission_id)
    assert (submission.events, submission.callback) == (events, outcome)


def test_purge_deletes_only_jobs_finished_before_the_cutoff(store: Store) -> None:
    old = [finished(store, state) for state in (State.DONE, State.FAILED, State.CANCELLED)]
    for submission_id in old:
        backdate(store, submission_id, finished_at=LONG_AGO)
    recent = finished(store, State.DONE)
    active = [queued(store), running(store)]
    for submission_id in active:
        backdate(store, submission_id, enqueued_at=LONG_AGO, started_at=LONG_AGO)

    assert store.purge(finished_before=time.time() - 60) == len(old)

    assert store.get_many(old) == []
    assert [s.id for s in store.get_many([recent, *active])] == [recent, *active]
    assert store.purge(finished_before=time.time() - 60) == 0


# --- a database that does not answer --------------------------------------------------------------

PASSWORD = "gosandbox"
UNREACHABLE_URL = f"postgresql+psycopg://gosandbox:{PASSWORD}@127.0.0.1:1/x?connect_timeout=2"

CALLS: dict[str, Callable[[Store], object]] = {
    "get": lambda store: store.get("0" * 32),
    "create": lambda store: store.create(sample_request(), origin=ORIGIN),
    "ping": lambda store: store.ping(),
}


@pytest.mark.parametrize("call", CALLS)
def test_an_unreachable_database_is_store_unavailable(call: str, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(UNREACHABLE_URL)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(StoreUnavailable) as raised:
            CALLS[call](Store(engine))
    finally:
        engine.dispose()
    told = [str(raised.value), str(raised.value.__cause__), *(r.getMessage() for r in caplog.records)]
    assert not [line for line in told if PASSWORD in line]

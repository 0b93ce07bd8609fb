"""Owners in the store, on both of its databases (SQLite and PostgreSQL, both real).

What it proves: migration 0004 takes a database of 0003 with rows in it (its globally unique
Idempotency-Key becomes unique per owner, the keyless tenant counting as one; shares get their
sizes); racing creates with one owner's key still make one row, and two owners one each; shares
are their owner's, expire and are purged; the quota counts both tables per owner; a cancelled job
is purged after its grace; a job's events are stored once, by length where the result
holds their text.
"""

from __future__ import annotations

import time
from importlib import resources

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, FromClause, TableClause, column, insert, select, table, update

from gosandbox.errors import StorageQuotaExceeded
from gosandbox.jobs.migrate import current_revision, upgrade
from gosandbox.jobs.outputs import compact_events
from gosandbox.jobs.quota import StorageQuota
from gosandbox.jobs.shares import ShareStore, share_id
from gosandbox.jobs.store import Claim, Store
from gosandbox.jobs.submission import KEYLESS, Owner, State
from gosandbox.jobs.tables import ShareRow, SubmissionRow
from support.jobs_helpers import sample_request

ANN, BOB = Owner("ann"), Owner("bob")
ORIGIN = "api-1"


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.connect() as connection:
        config = Config()
        config.set_main_option("script_location", str(resources.files("gosandbox.jobs").joinpath("migrations")))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def _as_of_0003(current: FromClause, values: dict[str, object]) -> TableClause:
    """The table with only the columns ``values`` names (with their current types)."""
    return table(current.name, *(column(name, current.c[name].type) for name in values))  # type: ignore[attr-defined]


def test_0004_takes_a_database_of_0003_with_its_rows(engine: Engine) -> None:
    upgrade_to(engine, "0003")
    old = {"id": "a" * 32, "kind": "run", "state": "done", "request": {}, "created_at": 1.0, "enqueued_at": 1.0,
           "attempts": 1, "origin": ORIGIN, "sync": False, "idempotency_key": "k", "api_key_name": None}  # fmt: skip
    with engine.begin() as connection:  # the tables as 0003 left them: only their columns then
        connection.execute(insert(_as_of_0003(SubmissionRow.__table__, old)).values(**old))
        share = {"id": "s" * 12, "body": b"12345", "created_at": 1.0}
        connection.execute(insert(_as_of_0003(ShareRow.__table__, share)).values(**share))
    upgrade(engine)
    assert current_revision(engine) == "0004"
    store = Store(engine)
    assert store.find_by_key("k", KEYLESS) is not None
    assert store.find_by_key("k", ANN) is None
    assert store.create(sample_request(), origin=ORIGIN, idempotency_key="k", owner=ANN)[1]  # ann's own "k"
    assert not store.create(sample_request(), origin=ORIGIN, idempotency_key="k")[1]  # the keyless one's, still
    with engine.connect() as connection:
        assert connection.execute(select(ShareRow.size_bytes, ShareRow.expires_at)).one() == (5, None)


def test_one_owners_key_makes_one_row_and_two_owners_two(store: Store) -> None:
    made = [store.create(sample_request(), origin=ORIGIN, idempotency_key="same", owner=owner)
            for owner in (ANN, BOB, ANN, BOB, KEYLESS, KEYLESS)]  # fmt: skip
    assert [created for _, created in made] == [True, True, False, False, True, False]
    ann, bob, keyless = made[0][0], made[1][0], made[4][0]
    assert len({ann.id, bob.id, keyless.id}) == 3
    assert (made[2][0].id, made[3][0].id, made[5][0].id) == (ann.id, bob.id, keyless.id)


def test_a_share_is_its_owners_expires_and_is_purged(engine: Engine, store: Store) -> None:
    shares = ShareStore(engine, ttl_s=60)
    ann_id, bob_id = shares.put(b"package main\n", ANN), shares.put(b"package main\n", BOB)
    assert ann_id != bob_id
    assert ann_id == share_id(b"package main\n", owner=ANN)
    assert (shares.get(ann_id, ANN), shares.get(ann_id, BOB), shares.get(ann_id, KEYLESS)) == (b"package main\n",
                                                                                              None, None)  # fmt: skip
    assert shares.get(ann_id, Owner("root", admin=True)) == b"package main\n"
    assert not shares.delete(ann_id, BOB)
    with engine.begin() as connection:
        connection.execute(update(ShareRow).where(ShareRow.id == bob_id).values(expires_at=time.time() - 1))
    assert shares.get(bob_id, BOB) is None
    assert shares.purge(time.time()) == 1
    assert shares.delete(ann_id, ANN)
    assert shares.get(ann_id, ANN) is None


def test_the_quota_counts_submissions_and_shares_per_owner(engine: Engine, store: Store) -> None:
    quota = StorageQuota(engine, limit_bytes=10_000, result_ttl_s=60)
    submission, _ = store.create(sample_request(code="package main //" + "x" * 4000), origin=ORIGIN, owner=ANN)
    ShareStore(engine).put(b"y" * 3000, ANN)
    used = quota.used(ANN)
    assert 7000 < used < 8000
    assert (quota.used(BOB), quota.used(KEYLESS)) == (0, 0)
    quota.check(ANN, 10_000 - used)
    with pytest.raises(StorageQuotaExceeded):
        quota.check(ANN, 10_000 - used + 1)
    quota.check(BOB, 10_000)
    assert quota.submission_bytes() == used - 3000
    assert quota.share_bytes() == 3000
    assert submission.owner == ANN


def test_a_cancelled_job_is_purged_after_its_grace_and_a_finished_one_is_kept(store: Store) -> None:
    queued = store.create(sample_request(), origin=ORIGIN)[0].id
    running = store.create(sample_request(), origin=ORIGIN)[0].id
    done = store.create(sample_request(), origin=ORIGIN)[0].id
    for submission_id in (running, done):
        assert store.claim(submission_id, "m", "w", 2).claim is Claim.RUN
    assert store.finish(done, 1, State.DONE, result={"status": "ok"}) is not None
    assert (store.cancel(queued), store.cancel(running)) == (State.QUEUED, State.RUNNING)
    assert store.purge_cancelled(cancelled_before=time.time() - 60) == 0  # within the grace
    assert store.purge_cancelled(cancelled_before=time.time() + 1) == 2
    assert (store.get(queued), store.get(running)) == (None, None)
    assert store.get(done) is not None


def test_events_are_stored_once_and_by_length_where_the_result_holds_them(store: Store) -> None:
    submission_id = store.create(sample_request(), origin=ORIGIN)[0].id
    assert store.claim(submission_id, "m", "w", 2).claim is Claim.RUN
    result = {"status": "ok", "stdout": "hello, world\n", "stderr": "oops"}
    assert store.finish(submission_id, 1, State.DONE, result=result) is not None
    events = [{"id": "1", "event": "stdout", "data": {"text": "hello, "}},
              {"id": "2", "event": "stderr", "data": {"text": "oops"}},
              {"id": "3", "event": "stdout", "data": {"text": "world\n"}}]  # fmt: skip
    compacted = compact_events(events, result)
    assert [e["data"] for e in compacted] == [{"text_in_result": 7}, {"text_in_result": 4}, {"text_in_result": 6}]
    store.set_events(submission_id, compacted)
    store.set_events(submission_id, [])  # a second announcement changes nothing
    stored = store.get(submission_id)
    assert stored is not None
    assert stored.events == events

"""The submission store: SQLAlchemy 2 on SQLite (default) or PostgreSQL.

Every state change is one conditional UPDATE (compare-and-set on ``state``, ``claim`` and
``attempts``), so that two workers, a canceller and a sweeper can race on a job and exactly one
of them wins: a job is never finished twice.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gosandbox.errors import StoreUnavailable
from gosandbox.jobs.outputs import expand_events
from gosandbox.jobs.submission import KEYLESS, JobRequest, Kind, Owner, State, Submission, new_id
from gosandbox.jobs.tables import SubmissionRow
from gosandbox.problems import server_stopped, worker_lost

logger = logging.getLogger(__name__)

_ACTIVE = (State.QUEUED.value, State.RUNNING.value)
#: Core statements on the table (the ORM class is its typed schema): a third of the ORM's cost per call here.
_T: Table = SubmissionRow.__table__  # type: ignore[assignment]
_C = _T.c
#: What a listing or a poll reads: not the request (the source) nor the stored events.
_LIGHT = [column for column in _T.c if column.name not in ("request", "events")]


def json_text(value: Any) -> str:
    """JSON as the store writes it: compact, and UTF-8 as it is (``\\u2401`` would be six bytes for three)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_bytes(value: Any) -> int:
    """The bytes ``value`` takes in a JSON column: what a storage quota counts."""
    return 0 if value is None else len(json_text(value).encode("utf-8", "surrogatepass"))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so that threads and processes share it."""
    # hide_parameters: a failed statement's text must never carry a user's source or output into a log.
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True,
                               json_serializer=json_text)  # fmt: skip
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10, hide_parameters=True,
                         json_serializer=json_text)  # fmt: skip


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """On a new file, connections switching it to WAL at once deadlock, and SQLite answers one of them
    "database is locked" at once, without waiting its busy timeout: retry, as that timeout would."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Claim(Enum):
    RUN = "run"  # this worker runs the job now
    SKIP = "skip"  # finished, cancelled, or running elsewhere: drop the message
    LOST = "lost"  # its worker was lost too often: the job was just marked failed


@dataclass(frozen=True)
class ClaimOutcome:
    claim: Claim
    attempt: int = 0
    request: dict[str, Any] | None = field(default=None, compare=False)  # Claim.RUN: what to run
    created_at: float | None = field(default=None, compare=False)  # Claim.RUN: when it was submitted
    owner: str | None = field(default=None, compare=False)  # Claim.RUN: its API key's name (None: keyless)


@contextmanager
def transaction(engine: Engine, database: str = "the submission database") -> Iterator[Connection]:
    """One transaction on ``engine``; a lost or refused connection becomes :class:`StoreUnavailable`.

    Every table of the store (submissions, API keys, shares) goes through here.
    """
    try:
        with engine.begin() as connection:
            yield connection
    except PoolTimeout as exc:
        raise StoreUnavailable(f"every connection to {database} is busy") from exc
    except DBAPIError as exc:
        # Only a lost or refused connection is an outage; a schema or SQL error is a bug to see as one.
        if not isinstance(exc, (OperationalError, InterfaceError)) and not exc.connection_invalidated:
            raise
        logger.warning("database error: %s", str(exc).splitlines()[0][:300])
        raise StoreUnavailable(f"{database} does not answer") from exc


class Store:
    """One unit of work per method; a lost or refused connection becomes :class:`StoreUnavailable`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _transaction(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine)

    def ping(self) -> None:
        with self._transaction() as connection:
            connection.execute(text("SELECT 1"))

    # --- creating and reading -----------------------------------------------------------------

    def create(  # noqa: PLR0913 - each keyword is one column the caller sets
        self,
        request: JobRequest,
        *,
        origin: str,
        sync: bool = False,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        owner: Owner = KEYLESS,
    ) -> tuple[Submission, bool]:
        """Store a queued submission of ``owner``'s; with an ``idempotency_key`` it used before, return that one.

        Returns the submission and whether it was created now. A key is unique per owner (another
        owner's key is another key): the insert itself decides, so callers look it up first only to
        skip work.
        """
        now, stored = time.time(), request.to_json()
        values: dict[str, Any] = {
            "id": new_id(), "kind": request.kind.value, "state": State.QUEUED.value, "request": stored,
            "created_at": now, "enqueued_at": now, "attempts": 0, "go_version": request.spec.go_version,
            "callback_url": callback_url, "idempotency_key": idempotency_key, "origin": origin, "sync": sync,
            "api_key_name": owner.key_name, "stored_bytes": json_bytes(stored),
        }  # fmt: skip
        try:
            with self._transaction() as connection:
                connection.execute(insert(_T).values(**values))
        except IntegrityError:  # the owner's key is taken: that submission is the answer
            existing = self.find_by_key(idempotency_key or "", owner)
            if existing is None:
                raise
            return existing, False
        return _submission(values), True

    def find_by_key(self, key: str, owner: Owner = KEYLESS) -> Submission | None:
        """``owner``'s submission made with Idempotency-Key ``key`` (another owner's is not looked at)."""
        return self._one(select(_T).where(_C.idempotency_key == key, owned_by(_C.api_key_name, owner)))

    def get(self, submission_id: str) -> Submission | None:
        return self._one(select(_T).where(_C.id == submission_id))

    def get_light(self, submission_id: str) -> Submission | None:
        """The submission without its request and stored events (what the API shows)."""
        return self._one(select(*_LIGHT).where(_C.id == submission_id))

    def _one(self, query: Any) -> Submission | None:
        with self._transaction() as connection:
            row = connection.execute(query).first()
        return _submission(row._mapping) if row is not None else None

    def get_many(self, ids: Sequence[str]) -> list[Submission]:
        """The submissions with these ids, in the order asked (unknown ids are left out), without their requests."""
        with self._transaction() as connection:
            rows = {row.id: row for row in connection.execute(select(*_LIGHT).where(_C.id.in_(ids)))}
        return [_submission(rows[i]._mapping) for i in ids if i in rows]

    def delete(self, submission_id: str) -> None:
        with self._transaction() as connection:
            connection.execute(delete(_T).where(_C.id == submission_id))

    def count_queued(self) -> int:
        with self._transaction() as connection:
            query = select(func.count()).select_from(_T).where(_C.state == State.QUEUED.value)
            return int(connection.scalar(query) or 0)

    # --- state changes (each a compare-and-set) -----------------------------------------------

    def _update(self, submission_id: str, *conditions: Any, **values: Any) -> bool:
        with self._transaction() as connection:
            statement = update(_T).where(_C.id == submission_id, *conditions).values(**values)
            return bool(connection.execute(statement).rowcount)

    def _take(self, submission_id: str, *conditions: Any, returning: Any, **values: Any) -> Row[Any] | None:
        """A compare-and-set that answers the columns ``returning`` of the row it changed (None: no change)."""
        with self._transaction() as connection:
            statement = update(_T).where(_C.id == submission_id, *conditions).values(**values).returning(*returning)
            return connection.execute(statement).first()

    def claim(self, submission_id: str, token: str, worker: str, max_attempts: int) -> ClaimOutcome:
        """Take a job for ``worker``; ``token`` names the queue message that delivered it.

        The same token on a running job means that message was delivered again because the
        worker that held it was lost: run it again, or fail it after ``max_attempts``.
        """
        now, wanted = time.time(), (_C.attempts, _C.request, _C.created_at, _C.api_key_name)
        taken = self._take(submission_id, _C.state == State.QUEUED.value, returning=wanted, state=State.RUNNING.value,
                           attempts=_C.attempts + 1, started_at=now, worker=worker, claim=token)  # fmt: skip
        if taken is not None:
            return ClaimOutcome(Claim.RUN, int(taken.attempts), taken.request, taken.created_at, taken.api_key_name)
        again = (_C.state == State.RUNNING.value, _C.claim == token)
        taken = self._take(submission_id, *again, _C.attempts < max_attempts, returning=wanted,
                           attempts=_C.attempts + 1, started_at=now, worker=worker)  # fmt: skip
        if taken is not None:
            logger.warning(
                "submission %s: its worker was lost; attempt %d on %s", submission_id, taken.attempts, worker
            )
            return ClaimOutcome(Claim.RUN, int(taken.attempts), taken.request, taken.created_at, taken.api_key_name)
        lost = worker_lost(max_attempts)
        if self._update(submission_id, *again, state=State.FAILED.value, error=lost, finished_at=now):
            logger.error("submission %s: worker lost %d times; failed", submission_id, max_attempts)
            return ClaimOutcome(Claim.LOST)
        return ClaimOutcome(Claim.SKIP)

    def owns(self, submission_id: str, attempt: int) -> bool:
        """Whether ``attempt`` still holds the job (not cancelled, not taken by a later attempt)."""
        with self._transaction() as connection:
            query = select(_C.state, _C.attempts).where(_C.id == submission_id)
            row = connection.execute(query).first()
        return row is not None and (row.state, row.attempts) == (State.RUNNING.value, attempt)

    def release(self, submission_id: str, attempt: int) -> bool:
        """Give a running job back to the queue (its worker stops now); the sweeper sends it again at once."""
        conditions = (_C.state == State.RUNNING.value, _C.attempts == attempt)
        return self._update(submission_id, *conditions, state=State.QUEUED.value, enqueued_at=0.0)

    def finish(
        self,
        submission_id: str,
        attempt: int,
        state: State,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> Submission | None:
        """Record the end of ``attempt``: the finished submission, or None when the attempt no longer
        owns the job (it was cancelled, or run again elsewhere)."""
        conditions = (_C.state == State.RUNNING.value, _C.attempts == attempt)
        grown = _C.stored_bytes + json_bytes(result)
        row = self._take(submission_id, *conditions, returning=_LIGHT, state=state.value, result=result,
                         error=error, finished_at=time.time(), stored_bytes=grown)  # fmt: skip
        return _submission(row._mapping) if row is not None else None

    def cancel(self, submission_id: str) -> State | None:
        """Mark an active job cancelled; return the state it had (None: it does not exist).

        A finished job's state is returned unchanged: the caller answers 409.
        """
        for _ in range(5):  # the state may move between the read and the update
            current = self.get_light(submission_id)
            if current is None or current.state.finished:
                return current.state if current else None
            if self._update(submission_id, _C.state == current.state.value,
                            state=State.CANCELLED.value, finished_at=time.time()):  # fmt: skip
                return current.state
        raise StoreUnavailable("the submission kept changing while it was being cancelled")

    def _ids(self, *conditions: Any, limit: int = 1000) -> list[str]:
        with self._transaction() as connection:
            query = select(_C.id).where(*conditions).order_by(_C.enqueued_at).limit(limit)
            return [str(i) for i in connection.scalars(query)]

    def requeue_lost(self, worker: str, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a restart of ``worker``: its running jobs go back to the queue, or fail past their attempts.

        Returns the ids queued again and the ids failed.
        """
        mine = (_C.state == State.RUNNING.value, _C.worker == worker)
        requeued, failed = [], []
        for submission_id in self._ids(*mine):
            if self._update(submission_id, *mine, _C.attempts < max_attempts, state=State.QUEUED.value,
                            enqueued_at=time.time()):  # fmt: skip
                requeued.append(submission_id)
            elif self._update(submission_id, *mine, state=State.FAILED.value, error=worker_lost(max_attempts),
                              finished_at=time.time()):  # fmt: skip
                failed.append(submission_id)
        return requeued, failed

    def abandon_sync(self, origin: str) -> list[str]:
        """After a restart of ``origin``: the jobs of its synchronous requests lost their clients; fail them."""
        orphaned = (_C.origin == origin, _C.sync.is_(True), _C.state.in_(_ACTIVE))
        return self._fail_all(orphaned, server_stopped())

    def _fail_all(self, conditions: tuple[Any, ...], error: dict[str, Any]) -> list[str]:
        """Fail every job that meets ``conditions``, each by compare-and-set; the ids failed."""
        now = time.time()
        return [i for i in self._ids(*conditions)
                if self._update(i, *conditions, state=State.FAILED.value, error=error, finished_at=now)]  # fmt: skip

    def queued_ids(self, *, enqueued_before: float | None = None, limit: int = 1000) -> list[str]:
        conditions = [_C.state == State.QUEUED.value]
        if enqueued_before is not None:
            conditions.append(_C.enqueued_at < enqueued_before)
        return self._ids(*conditions, limit=limit)

    def mark_enqueued(self, ids: Sequence[str]) -> None:
        with self._transaction() as connection:
            connection.execute(update(_T).where(_C.id.in_(ids)).values(enqueued_at=time.time()))

    def fail_stale(self, started_before: float) -> list[str]:
        """Running jobs that started before ``started_before`` lost their worker: fail them."""
        stale = (_C.state == State.RUNNING.value, _C.started_at < started_before)
        return self._fail_all(stale, worker_lost(1))

    def set_events(self, submission_id: str, events: list[dict[str, Any]]) -> None:
        """Store a finished job's events, once (a second announcement of its end changes nothing)."""
        self._update(
            submission_id, _C.events.is_(None), events=events, stored_bytes=_C.stored_bytes + json_bytes(events)
        )

    def set_callback(self, submission_id: str, outcome: dict[str, Any]) -> None:
        self._update(submission_id, callback=outcome)

    def purge(self, finished_before: float) -> int:
        """Delete submissions that finished before ``finished_before``; return how many."""
        with self._transaction() as connection:
            statement = delete(_T).where(_C.state.not_in(_ACTIVE), _C.finished_at < finished_before)
            return int(connection.execute(statement).rowcount)

    def purge_cancelled(self, cancelled_before: float) -> int:
        """Delete the jobs cancelled before ``cancelled_before``; return how many. A cancelled job has no result:
        its source is kept only while its owner may still look at it."""
        cancelled = (_C.state == State.CANCELLED.value, _C.finished_at < cancelled_before)
        with self._transaction() as connection:
            return int(connection.execute(delete(_T).where(*cancelled)).rowcount)


def owned_by(column: Any, owner: Owner) -> Any:
    """The SQL condition "``column`` names ``owner``" (the keyless tenant: NULL)."""
    return column.is_(None) if owner.keyless else column == owner.key_name


def _submission(row: Any) -> Submission:
    """A submission from a row's mapping (or the values just inserted); absent columns stay empty."""
    return Submission(
        id=row["id"],
        kind=Kind(row["kind"]),
        state=State(row["state"]),
        request=row.get("request") or {},
        created_at=row["created_at"],
        result=row.get("result"),
        error=row.get("error"),
        started_at=row.get("started_at"),
        finished_at=row.get("finished_at"),
        attempts=row.get("attempts", 0),
        worker=row.get("worker"),
        go_version=row.get("go_version"),
        callback_url=row.get("callback_url"),
        callback=row.get("callback"),
        events=expand_events(events, row.get("result")) if (events := row.get("events")) is not None else None,
        api_key_name=row.get("api_key_name"),
    )

"""The submission store: SQLAlchemy 2 on SQLite (default) or PostgreSQL.

Every state change is one conditional UPDATE (compare-and-set on ``state``, ``claim`` and
``attempts``), so that two workers, a canceller and a sweeper can race on a job and exactly one
of them wins: a job is never finished twice.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gosandbox.errors import StoreUnavailable
from gosandbox.jobs.model import JobRequest, Kind, State, Submission
from gosandbox.jobs.tables import SubmissionRow
from gosandbox.problems import server_stopped, worker_lost

logger = logging.getLogger(__name__)

_ACTIVE = (State.QUEUED.value, State.RUNNING.value)


def new_id() -> str:
    return uuid.uuid4().hex


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so that threads and processes share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10)


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


class Store:
    """One unit of work per method; errors of the database become :class:`StoreUnavailable`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except DBAPIError as exc:
            # Only a lost or refused connection is an outage; a schema or SQL error is a bug to see as one.
            if not isinstance(exc, (OperationalError, InterfaceError)) and not exc.connection_invalidated:
                raise
            logger.warning("database error: %s", str(exc).splitlines()[0][:300])
            raise StoreUnavailable("the submission database does not answer") from exc

    def ping(self) -> None:
        with self._session() as session:
            session.execute(text("SELECT 1"))

    # --- creating and reading -----------------------------------------------------------------

    def create(
        self,
        request: JobRequest,
        *,
        origin: str,
        sync: bool = False,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Submission, bool]:
        """Store a queued submission; with a known ``idempotency_key``, return that one instead.

        Returns the submission and whether it was created now.
        """
        if idempotency_key is not None and (existing := self.find_by_key(idempotency_key)) is not None:
            return existing, False
        now = time.time()
        row = SubmissionRow(
            id=new_id(),
            kind=request.kind.value,
            state=State.QUEUED.value,
            request=request.to_json(),
            created_at=now,
            enqueued_at=now,
            attempts=0,
            go_version=request.spec.go_version,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            origin=origin,
            sync=sync,
        )
        try:
            with self._session() as session:
                session.add(row)
        except IntegrityError:  # the same key, sent twice at once: the other one won
            existing = self.find_by_key(idempotency_key or "")
            if existing is None:
                raise
            return existing, False
        return _submission(row), True

    def find_by_key(self, key: str) -> Submission | None:
        with self._session() as session:
            row = session.scalars(select(SubmissionRow).where(SubmissionRow.idempotency_key == key)).first()
            return _submission(row) if row else None

    def get(self, submission_id: str) -> Submission | None:
        with self._session() as session:
            row = session.get(SubmissionRow, submission_id)
            return _submission(row) if row else None

    def get_many(self, ids: Sequence[str]) -> list[Submission]:
        """The submissions with these ids, in the order asked (unknown ids are left out)."""
        with self._session() as session:
            rows = {row.id: row for row in session.scalars(select(SubmissionRow).where(SubmissionRow.id.in_(ids)))}
        return [_submission(rows[i]) for i in ids if i in rows]

    def delete(self, submission_id: str) -> None:
        with self._session() as session:
            session.execute(delete(SubmissionRow).where(SubmissionRow.id == submission_id))

    def count_queued(self) -> int:
        with self._session() as session:
            query = select(func.count()).select_from(SubmissionRow).where(SubmissionRow.state == State.QUEUED.value)
            return int(session.scalar(query) or 0)

    # --- state changes (each a compare-and-set) -----------------------------------------------

    def _update(self, submission_id: str, *conditions: Any, **values: Any) -> bool:
        with self._session() as session:
            statement = update(SubmissionRow).where(SubmissionRow.id == submission_id, *conditions).values(**values)
            return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def claim(self, submission_id: str, token: str, worker: str, max_attempts: int) -> ClaimOutcome:
        """Take a job for ``worker``; ``token`` names the queue message that delivered it.

        The same token on a running job means that message was delivered again because the
        worker that held it was lost: run it again, or fail it after ``max_attempts``.
        """
        now = time.time()
        row = SubmissionRow
        queued = row.state == State.QUEUED.value
        attempt = self._take(submission_id, queued, state=State.RUNNING.value, attempts=row.attempts + 1,
                             started_at=now, worker=worker, claim=token)  # fmt: skip
        if attempt is not None:
            return ClaimOutcome(Claim.RUN, attempt)
        again = (row.state == State.RUNNING.value, row.claim == token)
        attempt = self._take(submission_id, *again, row.attempts < max_attempts, attempts=row.attempts + 1,
                             started_at=now, worker=worker)  # fmt: skip
        if attempt is not None:
            logger.warning("submission %s: its worker was lost; attempt %d on %s", submission_id, attempt, worker)
            return ClaimOutcome(Claim.RUN, attempt)
        lost = worker_lost(max_attempts)
        if self._update(submission_id, *again, state=State.FAILED.value, error=lost, finished_at=now):
            logger.error("submission %s: worker lost %d times; failed", submission_id, max_attempts)
            return ClaimOutcome(Claim.LOST)
        return ClaimOutcome(Claim.SKIP)

    def _take(self, submission_id: str, *conditions: Any, **values: Any) -> int | None:
        """A compare-and-set that also answers the attempt it made (None: the condition failed)."""
        with self._session() as session:
            statement = (
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id, *conditions)
                .values(**values)
                .returning(SubmissionRow.attempts)
            )
            attempt = session.execute(statement).scalar()
            return None if attempt is None else int(attempt)

    def finish(
        self,
        submission_id: str,
        attempt: int,
        state: State,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Record the end of ``attempt``; False when it no longer owns the job (cancelled, or re-run)."""
        row = SubmissionRow
        conditions = (row.state == State.RUNNING.value, row.attempts == attempt)
        return self._update(submission_id, *conditions, state=state.value, result=result, error=error,
                            finished_at=time.time())  # fmt: skip

    def cancel(self, submission_id: str) -> State | None:
        """Mark an active job cancelled; return the state it had (None: it does not exist).

        A finished job's state is returned unchanged: the caller answers 409.
        """
        for _ in range(5):  # the state may move between the read and the update
            current = self.get(submission_id)
            if current is None or current.state.finished:
                return current.state if current else None
            if self._update(submission_id, SubmissionRow.state == current.state.value,
                            state=State.CANCELLED.value, finished_at=time.time()):  # fmt: skip
                return current.state
        raise StoreUnavailable("the submission kept changing while it was being cancelled")

    def requeue_lost(self, worker: str, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a restart of ``worker``: its running jobs go back to the queue, or fail past their attempts.

        Returns the ids queued again and the ids failed.
        """
        row = SubmissionRow
        mine = (row.state == State.RUNNING.value, row.worker == worker)
        with self._session() as session:
            ids = list(session.scalars(select(row.id).where(*mine)))
        requeued, failed = [], []
        for submission_id in ids:
            if self._update(submission_id, *mine, row.attempts < max_attempts, state=State.QUEUED.value,
                            enqueued_at=time.time()):  # fmt: skip
                requeued.append(submission_id)
            elif self._update(submission_id, *mine, state=State.FAILED.value, error=worker_lost(max_attempts),
                              finished_at=time.time()):  # fmt: skip
                failed.append(submission_id)
        return requeued, failed

    def abandon_sync(self, origin: str) -> list[str]:
        """After a restart of ``origin``: the jobs of its synchronous requests lost their clients; fail them."""
        row = SubmissionRow
        orphaned = (row.origin == origin, row.sync.is_(True), row.state.in_(_ACTIVE))
        with self._session() as session:
            ids = list(session.scalars(select(row.id).where(*orphaned)))
        return [i for i in ids if self._update(i, *orphaned, state=State.FAILED.value, error=server_stopped(),
                                               finished_at=time.time())]  # fmt: skip

    def queued_ids(self, *, enqueued_before: float | None = None, limit: int = 1000) -> list[str]:
        row = SubmissionRow
        query = select(row.id).where(row.state == State.QUEUED.value)
        if enqueued_before is not None:
            query = query.where(row.enqueued_at < enqueued_before)
        with self._session() as session:
            return list(session.scalars(query.order_by(row.enqueued_at).limit(limit)))

    def mark_enqueued(self, ids: Sequence[str]) -> None:
        with self._session() as session:
            session.execute(update(SubmissionRow).where(SubmissionRow.id.in_(ids)).values(enqueued_at=time.time()))

    def fail_stale(self, started_before: float) -> list[str]:
        """Running jobs that started before ``started_before`` lost their worker: fail them."""
        row = SubmissionRow
        stale = (row.state == State.RUNNING.value, row.started_at < started_before)
        with self._session() as session:
            ids = list(session.scalars(select(row.id).where(*stale)))
        return [i for i in ids if self._update(i, *stale, state=State.FAILED.value, error=worker_lost(1),
                                               finished_at=time.time())]  # fmt: skip

    def set_events(self, submission_id: str, events: list[dict[str, Any]]) -> None:
        with self._session() as session:
            session.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id).values(events=events))

    def set_callback(self, submission_id: str, outcome: dict[str, Any]) -> None:
        with self._session() as session:
            session.execute(update(SubmissionRow).where(SubmissionRow.id == submission_id).values(callback=outcome))

    def purge(self, finished_before: float) -> int:
        """Delete submissions that finished before ``finished_before``; return how many."""
        row = SubmissionRow
        with self._session() as session:
            statement = delete(row).where(row.state.not_in(_ACTIVE), row.finished_at < finished_before)
            return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _submission(row: SubmissionRow) -> Submission:
    return Submission(
        id=row.id,
        kind=Kind(row.kind),
        state=State(row.state),
        request=row.request,
        created_at=row.created_at,
        result=row.result,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempts=row.attempts,
        worker=row.worker,
        go_version=row.go_version,
        callback_url=row.callback_url,
        callback=row.callback,
        events=row.events,
    )

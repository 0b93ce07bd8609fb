"""The dispatcher seam: who executes a stored job. This module: the server's own run slots (the default).

The other implementation, :class:`gosandbox.jobs.queue.QueueDispatcher`, sends jobs to workers
through a task queue on Redis.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gosandbox.backends.base import Backend
from gosandbox.errors import Overloaded, SandboxFailure
from gosandbox.jobs.execution import CancelSwitches, JobExecutor
from gosandbox.jobs.fairness import FairQueue, Tenant, running_cap, tenant_of

logger = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def start(self) -> None: ...

    def close(self) -> None:
        """Stop taking jobs; let the running ones finish."""

    def admit(self, count: int = 1) -> None:
        """Raise :class:`Overloaded` when ``count`` more jobs would pass the queue's bound."""

    def enqueue(self, submission_id: str, go_version: str | None, tenant: Tenant | None = None) -> None:
        """Hand a stored, queued job to whoever runs it; ``tenant``: its owner's (None: read from the store)."""

    def resend(self, submission_ids: list[str]) -> list[str]:
        """Hand on again queued jobs that may have been lost; return the ids sent."""

    def cancel_running(self, submission_id: str) -> None:
        """Tell whoever runs the job to kill its sandbox now."""

    def go_versions(self) -> list[str]:
        """The toolchains jobs may ask for (the default first)."""

    def check_ready(self) -> None:
        """Raise a :class:`BackendUnavailable` saying why jobs cannot run now."""


def retry_after_s(waiting: int, slots: int, jobs_per_s: float | None = None) -> int:
    """A client's fair wait: the time the queue ahead takes to drain, in whole seconds within [1, 60].

    ``jobs_per_s``: the measured rate at which jobs finish (see :class:`DrainRate`); without one,
    about one second per round of the slots that the queue ahead fills.

    >>> retry_after_s(40, 2, jobs_per_s=4.0), retry_after_s(40, 2), retry_after_s(0, 2, 4.0), retry_after_s(10**6, 1)
    (10, 21, 1, 60)
    """
    if jobs_per_s is not None and jobs_per_s > 0:
        estimate = math.ceil(waiting / jobs_per_s)
    else:
        estimate = 1 + waiting // max(1, slots)
    return max(1, min(60, estimate))


class DrainRate:
    """Jobs finished per second lately: the ends of the last ``window_s`` seconds (at most ``keep`` of them).

    The rate is ``(n - 1) / (now - oldest end)``: it counts the intervals between the ends, and the
    time since the last end too, so a queue that stops draining (every slot on a long job) reads as
    slowing down. Fewer than two ends in the window: nothing measured (None).
    """

    def __init__(self, window_s: float = 60.0, keep: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self.clock = window_s, clock
        self._ends: deque[float] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def finished(self) -> None:
        with self._lock:
            self._ends.append(self.clock())

    def per_second(self) -> float | None:
        now = self.clock()
        with self._lock:
            while self._ends and self._ends[0] < now - self.window_s:
                self._ends.popleft()
            count, oldest = len(self._ends), self._ends[0] if self._ends else now
        if count < 2 or now <= oldest:
            return None
        return (count - 1) / (now - oldest)


@dataclass(frozen=True)
class _Queued:
    submission_id: str
    cancel: threading.Event
    context: contextvars.Context  # the submitter's: the job's log records carry the id of the request that sent it


class LocalDispatcher:
    """At most ``slots`` jobs run at once in this process, ``max_queued`` wait behind them, 429 beyond.

    Waiting jobs start in the order of :mod:`gosandbox.jobs.fairness` (round robin between API keys,
    at most ``per_key_cap`` of one key's running while another key waits), not in the order they came.
    """

    def __init__(self, executor: JobExecutor, backend: Backend, slots: int, max_queued: int,
                 per_key_cap: int = 0) -> None:  # fmt: skip
        self.executor, self.backend = executor, backend
        self.slots, self.max_queued = slots, max_queued
        self.running = self.waiting = 0
        self._lock = threading.Lock()
        self._cancels = CancelSwitches()
        self._cap = running_cap(per_key_cap, slots)
        self._queue: FairQueue[_Queued] = FairQueue(self._cap)
        self._threads: list[threading.Thread] = []
        self._stopping_now = False
        self.drain = DrainRate()  # for Retry-After: how fast the queue empties

    def start(self) -> None:
        """Jobs a killed predecessor of this instance was running go back to the queue, then all queued run.

        Started again after :meth:`close` (an application whose lifespan runs twice), it serves again:
        the closed queue would hand its new slots nothing, so each start has a queue of its own.
        """
        with self._lock:
            self._queue, self._stopping_now = FairQueue(self._cap), False
            self._threads = [threading.Thread(target=self._slot, name=f"job-{n}", daemon=True)
                             for n in range(self.slots)]  # fmt: skip
        for thread in self._threads:
            thread.start()
        self.executor.recover(sync_clients_gone=True)
        for submission_id in self.executor.store.queued_ids():
            self._submit(submission_id, self._tenant(submission_id))

    def admit(self, count: int = 1) -> None:
        with self._lock:
            self._check_room(count)

    def _check_room(self, count: int) -> None:
        if self.running + self.waiting + count > self.slots + self.max_queued:
            raise Overloaded(
                f"{self.running} jobs running and {self.waiting} waiting (the queue holds {self.max_queued})",
                retry_after_s=retry_after_s(self.waiting, self.slots, self.drain.per_second()),
            )

    def enqueue(self, submission_id: str, go_version: str | None, tenant: Tenant | None = None) -> None:
        del go_version  # this one backend has every toolchain it offers
        with self._lock:
            self._check_room(1)
        self._submit(submission_id, self._tenant(submission_id) if tenant is None else tenant)

    def _tenant(self, submission_id: str) -> Tenant:
        submission = self.executor.store.get_light(submission_id)
        return tenant_of(submission.api_key_name if submission is not None else None)

    def _submit(self, submission_id: str, tenant: Tenant) -> None:
        with self._lock:
            if not self._threads or self._stopping_now:
                raise SandboxFailure("the server is not serving (starting or shutting down)", hint="retry shortly")
            self.waiting += 1
            cancel = self._cancels.add(submission_id)
        self._queue.put(tenant, _Queued(submission_id, cancel, contextvars.copy_context()))

    def _slot(self) -> None:
        """One run slot: take the next fair job, run it; until the queue closes."""
        while (held := self._queue.take()) is not None:
            try:
                job = held.item
                job.context.run(self._run, job.submission_id, job.cancel)
            finally:
                self._queue.done(held.tenant)

    def _run(self, submission_id: str, cancel: threading.Event) -> None:
        with self._lock:
            self.waiting -= 1
            self.running += 1
        try:
            # Not when cancelled (its client hung up, say) or stopped now: it stays as stored. A job
            # skipped (here or by the store) does not count as drained: it would promise a rate real jobs lack.
            if not cancel.is_set() and self.executor.execute(submission_id, submission_id, cancel):
                self.drain.finished()
        except Exception:  # the store failed: the job stays queued, and the sweeper hands it on again
            logger.exception("submission %s could not be executed", submission_id)
        finally:
            with self._lock:
                self.running -= 1
                self._cancels.remove(submission_id)

    def resend(self, submission_ids: list[str]) -> list[str]:
        """Queued jobs this process does not hold (its claim failed in a database outage) run now."""
        with self._lock:
            if self._stopping_now:
                return []
            lost = [i for i in submission_ids if i not in self._cancels]
        for submission_id in lost:
            self._submit(submission_id, self._tenant(submission_id))
        return lost

    def cancel_running(self, submission_id: str) -> None:
        self._cancels.cancel(submission_id)

    def go_versions(self) -> list[str]:
        return self.backend.go_versions

    def check_ready(self) -> None:
        self.backend.check_ready()

    def stop_now(self) -> None:
        """Shutting down at once: kill every running job's sandbox now; no other job starts.

        Each running job goes back to the queue in the store (:meth:`JobExecutor.execute` releases
        a job stopped by its cancel switch that it still owns) and, like the queued ones, runs at the
        next start. :meth:`close` still waits for the job threads, which end within moments.
        """
        with self._lock:
            self._stopping_now = True
            running = self.running
        logger.warning("stopping now: killing the sandboxes of %d running job(s)", running)
        self._cancels.cancel_all()

    def close(self) -> None:
        """Running jobs finish; queued ones stay queued in the store for the next start."""
        with self._lock:
            threads, self._threads = self._threads, []
        for job in self._queue.close():
            with self._lock:
                self.waiting -= 1
                self._cancels.remove(job.submission_id)
        for thread in threads:
            thread.join()

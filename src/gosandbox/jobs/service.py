"""What the edges (HTTP, CLI, compatibility layers) call: submit, get, cancel, wait, follow events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from gosandbox.errors import (
    BackendUnavailable,
    GosandboxError,
    IdempotencyKeyReused,
    InvalidRequest,
    Overloaded,
    SubmissionFinished,
    SubmissionNotFound,
    UnknownToolchain,
)
from gosandbox.jobs.dispatch import Dispatcher, LocalDispatcher
from gosandbox.jobs.events import RESULT, Event, EventLog, events_after
from gosandbox.jobs.execution import JobEnd
from gosandbox.jobs.store import Store
from gosandbox.jobs.submission import JobRequest, Owner, State, Submission
from gosandbox.jobs.webhooks import check_callback_url
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
#: The longest one event stream stays open; the client resumes with Last-Event-ID.
MAX_STREAM_S = 600.0
_SWEEP_EVERY_S = 5.0
_ANNOUNCE_WAIT_S = 1.0  # a finished job's events not stored yet: how long to wait for them

#: Takes a batch's ``N`` jobs from the caller's rate and quota (the edge already took one unit for the
#: request); raises :class:`~gosandbox.errors.RateLimited` or ``AboveKeyCap`` when they are not there.
#: The edge that knows the caller makes it (:func:`gosandbox.auth.context.batch_charge`).
Charge = Callable[[int], None]


class JobService:
    def __init__(self, settings: Settings, store: Store, events: EventLog, dispatcher: Dispatcher,
                 end: JobEnd) -> None:  # fmt: skip
        self.settings, self.store, self.events, self.dispatcher, self.end = settings, store, events, dispatcher, end
        self.distributed = settings.queue_url is not None

    # --- submitting ---------------------------------------------------------------------------

    def check(self, request: JobRequest, callback_url: str | None) -> None:
        """Refuse what no worker could run, before anything is stored."""
        if callback_url is not None:
            check_callback_url(callback_url, self.settings.allowed_callback_hosts(), self.settings.callback_secret)
        wanted = request.spec.go_version
        if wanted is None:
            return  # any worker takes it, with its default toolchain
        offered = self.dispatcher.go_versions()
        if not offered:
            raise UnknownToolchain(f"no worker offers go_version {wanted[:40]!r} now; retry when one runs",
                                   hint="start a worker: gosandbox worker")  # fmt: skip
        if wanted not in offered:
            raise UnknownToolchain(
                f"go_version {wanted[:40]!r} is not installed here; choose one of: {', '.join(offered)}"
            )

    def submit(
        self,
        request: JobRequest,
        *,
        owner: Owner,
        sync: bool = False,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Submission, bool]:
        """Store the job as ``owner``'s and hand it on; an ``idempotency_key`` seen before returns that submission.

        ``sync``: a client waits for it on this node (a synchronous endpoint).
        """
        self.check(request, callback_url)
        if idempotency_key is not None and (existing := self.store.find_by_key(idempotency_key)) is not None:
            return self._same_request(existing, request, idempotency_key), False
        self.dispatcher.admit()
        submission, created = self.store.create(request, origin=self.settings.instance, sync=sync,
                                                callback_url=callback_url, idempotency_key=idempotency_key,
                                                owner=owner)  # fmt: skip
        if created:
            self._hand_on(submission)
        elif idempotency_key is not None:  # the same key, sent twice at once: the other request won
            self._same_request(submission, request, idempotency_key)
        return submission, created

    @staticmethod
    def _same_request(existing: Submission, request: JobRequest, key: str) -> Submission:
        if existing.request != request.to_json():
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key[:40]!r} was used for a different request; use a new key for a new request"
            )
        return existing

    def submit_many(
        self, requests: Sequence[tuple[JobRequest, str | None]], *, owner: Owner, charge: Charge
    ) -> list[Submission]:
        """A batch of ``owner``'s: every request is checked, ``charge``d and room for all asked before any is stored."""
        for index, (request, callback_url) in enumerate(requests):
            try:
                self.check(request, callback_url)
            except InvalidRequest as exc:  # name the item, as the parsing of the batch does
                raise type(exc)(f"submissions[{index}]: {exc}") from None
        charge(len(requests))  # N jobs count N against the API key's rate and quota
        self.dispatcher.admit(len(requests))
        submissions: list[Submission] = []
        try:
            for request, callback_url in requests:
                submission, _ = self.store.create(
                    request, origin=self.settings.instance, callback_url=callback_url, owner=owner
                )
                self._hand_on(submission)
                submissions.append(submission)
        except (Overloaded, BackendUnavailable):  # all or nothing: the client retries the whole batch
            for stored in submissions:
                with contextlib.suppress(GosandboxError):
                    self.cancel(stored.id)
            raise
        return submissions

    def _hand_on(self, submission: Submission) -> None:
        self.events.publish(submission.id, "state", {"state": State.QUEUED.value})
        try:
            self.dispatcher.enqueue(submission.id, submission.go_version)
        except (Overloaded, BackendUnavailable):
            self.store.delete(submission.id)  # never accepted: the client is told to retry
            self.events.retire(submission.id)
            raise

    # --- reading, cancelling ------------------------------------------------------------------

    def get(self, submission_id: str, *, with_events: bool = False) -> Submission:
        """The submission as the API shows it (``with_events``: its stored events too)."""
        submission = self.store.get(submission_id) if with_events else self.store.get_light(submission_id)
        if submission is None:
            raise SubmissionNotFound(
                f"no submission {submission_id[:40]!r}; finished ones are kept {self.settings.result_ttl_s} s"
            )
        return submission

    def cancel(self, submission_id: str) -> Submission:
        previous = self.store.cancel(submission_id)
        if previous is None:
            self.get(submission_id)  # raises: not found
        assert previous is not None
        if previous.finished:
            raise SubmissionFinished(f"submission {submission_id} already ended ({previous.value}); nothing to cancel")
        self.dispatcher.cancel_running(submission_id)
        self.end.announce_id(submission_id)
        logger.info("submission %s cancelled (it was %s)", submission_id, previous.value)
        return self.get(submission_id)

    async def abandon(self, submission_id: str) -> None:
        """Its synchronous client hung up: the job must not start (or stop now), and no error follows.

        Where this process holds the job, its cancel switch is thrown at once, on the event loop: the
        job then never reaches the builder even while the store's cancel waits for a free thread
        (a parse flood kept those busy for seconds). The store's compare-and-set does the rest: a
        cancelled job is never claimed, by this process or by a worker.
        """
        if isinstance(self.dispatcher, LocalDispatcher):
            self.dispatcher.cancel_running(submission_id)
        with contextlib.suppress(SubmissionFinished):
            await asyncio.to_thread(self.cancel, submission_id)

    # --- waiting and following ----------------------------------------------------------------

    async def wait(self, submission_id: str, timeout_s: float | None) -> Submission:
        """The submission once it finishes (the moment its result event arrives), or after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        submission = await asyncio.to_thread(self.get, submission_id)
        if submission.state.finished or timeout_s == 0:
            return submission
        try:
            await self._until_result(submission_id, deadline)
        except BackendUnavailable as exc:  # the event transport failed; the job goes on: ask the store
            logger.warning("waiting for %s without events: %s", submission_id, exc)
            while deadline is None or time.monotonic() < deadline:
                if (await asyncio.to_thread(self.get, submission_id)).state.finished:
                    break
                await asyncio.sleep(0.5)
        return await asyncio.to_thread(self.get, submission_id)

    async def _until_result(self, submission_id: str, deadline: float | None) -> None:
        async for item in self.events.follow(submission_id, None, idle_s=1.0 if deadline is None else 0.2):
            if item is not None and item.name == RESULT:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            if item is None and (await asyncio.to_thread(self.get, submission_id)).state.finished:
                return  # its result event was lost (an outage of the event transport)

    async def stream(self, submission_id: str, last_event_id: str | None) -> AsyncIterator[Event | None]:
        """Every event after ``last_event_id``, live; a finished job replays what was stored.

        A live stream ends with the job's result, even if the result event itself was lost
        (the store is asked at each keep-alive), and after ``MAX_STREAM_S`` at the most: the
        client resumes with ``Last-Event-ID``.
        """
        submission = await asyncio.to_thread(lambda: self.get(submission_id, with_events=True))
        if submission.state.finished:
            for replayed in await self._replay(submission, last_event_id):
                yield replayed
            return
        deadline, cursor = time.monotonic() + MAX_STREAM_S, last_event_id
        async for item in self.events.follow(submission_id, last_event_id, idle_s=KEEPALIVE_S):
            yield item
            if item is not None:
                cursor = item.id
                continue
            if time.monotonic() > deadline:
                return
            current = await asyncio.to_thread(lambda: self.get(submission_id, with_events=True))
            if current.state.finished and current.events is not None:  # its result event never came
                for replayed in await self._replay(current, cursor):
                    yield replayed
                return

    async def _replay(self, submission: Submission, last_event_id: str | None) -> list[Event]:
        if submission.events is None:  # its end is being announced this moment: the live log has them
            stored = await self._announced(submission.id)
        else:
            stored = [Event.from_json(e) for e in submission.events]
        # A stored result event has no data of its own: it is the submission, as it is now.
        stored = [Event(e.id, RESULT, submission.public()) if e.name == RESULT else e for e in stored]
        if not stored or stored[-1].name != RESULT:
            stored.append(Event("final", RESULT, submission.public()))
        return events_after(stored, last_event_id)

    async def _announced(self, submission_id: str) -> list[Event]:
        """The live events of a job that just ended, up to its result (or as many as came before a quiet spell)."""
        events: list[Event] = []
        async for item in self.events.follow(submission_id, None, idle_s=_ANNOUNCE_WAIT_S):
            if item is None:
                break
            events.append(item)
        return events

    # --- upkeep -------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Purge expired results; re-send queued jobs nobody holds; fail jobs whose worker vanished.

        Each part runs even if another fails (a database or queue outage): the next round retries.
        """
        now = time.time()
        for part in (self._purge, self._resend, self._fail_stale):
            try:
                part(now)
            except GosandboxError as exc:
                logger.warning("sweep: %s", exc)

    def _purge(self, now: float) -> None:
        purged = self.store.purge(now - self.settings.result_ttl_s)
        if purged:
            logger.info("purged %d finished submission(s)", purged)

    def _resend(self, now: float) -> None:
        stale = self.store.queued_ids(enqueued_before=now - self.settings.requeue_after_s, limit=200)
        if stale and (sent := self.dispatcher.resend(stale)):
            self.store.mark_enqueued(sent)
            logger.warning("re-sent %d job(s) queued for over %.0f s", len(sent), self.settings.requeue_after_s)

    def _fail_stale(self, now: float) -> None:
        started_before = now - 2 * self.settings.longest_job_s() - self.settings.heartbeat_timeout_s
        for submission_id in self.store.fail_stale(started_before):
            self.dispatcher.cancel_running(submission_id)
            self.end.announce_id(submission_id)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_EVERY_S)
            try:
                await asyncio.to_thread(self.sweep)
            except Exception as exc:  # an outage: the next round tries again
                logger.warning("sweep failed: %s", exc)

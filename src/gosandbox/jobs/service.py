"""What the edges (HTTP, CLI, compatibility layers) call: submit, get, cancel, wait, follow events, share.

Every submission and share is its owner's (:class:`~gosandbox.jobs.submission.Owner`: an API key, or the
keyless tenant). An edge that serves an id a client sent passes the caller as ``viewer``: what another
owner stored is "not found" to it, exactly as what never existed (no oracle), unless the caller's key is
an admin one. ``viewer=None`` is for an id the edge made itself for this caller (a synchronous route's
own job). What an owner stores is held to its storage quota (:mod:`gosandbox.jobs.quota`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from gosandbox import metrics
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
from gosandbox.jobs.fairness import tenant_of
from gosandbox.jobs.quota import StorageQuota
from gosandbox.jobs.shares import ShareStore
from gosandbox.jobs.store import Store, json_bytes
from gosandbox.jobs.submission import JobRequest, Owner, State, Submission
from gosandbox.jobs.webhooks import check_callback_url
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
#: The longest one event stream stays open; the client resumes with Last-Event-ID.
MAX_STREAM_S = 600.0
_SWEEP_EVERY_S = 5.0
_ANNOUNCE_WAIT_S = 1.0  # a finished job's events not stored yet: how long to wait for them
_MIB = 1024 * 1024

#: Takes a batch's ``N`` jobs from the caller's rate and quota (the edge already took one unit for the
#: request); raises :class:`~gosandbox.errors.RateLimited` or ``AboveKeyCap`` when they are not there.
#: The edge that knows the caller makes it (:func:`gosandbox.auth.context.batch_charge`).
Charge = Callable[[int], None]


class JobService:
    def __init__(self, settings: Settings, store: Store, events: EventLog, dispatcher: Dispatcher,
                 end: JobEnd) -> None:  # fmt: skip
        self.settings, self.store, self.events, self.dispatcher, self.end = settings, store, events, dispatcher, end
        self.distributed = settings.queue_url is not None
        self.quota = StorageQuota(store.engine, settings.storage_quota_mb * _MIB, settings.result_ttl_s)
        self.shares = ShareStore(store.engine, ttl_s=settings.share_ttl_s)
        metrics.watch_storage(self.quota.submission_bytes, self.quota.share_bytes)

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
        """Store the job as ``owner``'s and hand it on; an ``idempotency_key`` ``owner`` used before returns that
        submission (another owner's key is another key).

        ``sync``: a client waits for it on this node (a synchronous endpoint).
        """
        self.check(request, callback_url)
        if idempotency_key is not None and (existing := self.store.find_by_key(idempotency_key, owner)) is not None:
            return self._same_request(existing, request, callback_url, idempotency_key), False
        self.quota.check(owner, json_bytes(request.to_json()))
        self.dispatcher.admit()
        submission, created = self.store.create(request, origin=self.settings.instance, sync=sync,
                                                callback_url=callback_url, idempotency_key=idempotency_key,
                                                owner=owner)  # fmt: skip
        if created:
            self._hand_on(submission)
        elif idempotency_key is not None:  # the same key, sent twice at once: the other request won
            self._same_request(submission, request, callback_url, idempotency_key)
        return submission, created

    @staticmethod
    def _same_request(existing: Submission, request: JobRequest, callback_url: str | None, key: str) -> Submission:
        """``existing`` when it was made by this very request (every field that changes what happens)."""
        if (existing.request, existing.callback_url) != (request.to_json(), callback_url):
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
        self.quota.check(owner, sum(json_bytes(request.to_json()) for request, _ in requests))
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
            self.dispatcher.enqueue(submission.id, submission.go_version, tenant_of(submission.api_key_name))
        except (Overloaded, BackendUnavailable):
            self.store.delete(submission.id)  # never accepted: the client is told to retry
            self.events.retire(submission.id)
            raise

    # --- reading, cancelling ------------------------------------------------------------------

    def get(self, submission_id: str, *, viewer: Owner | None = None, with_events: bool = False) -> Submission:
        """The submission as the API shows it (``with_events``: its stored events too), if ``viewer`` may see it."""
        submission = self.store.get(submission_id) if with_events else self.store.get_light(submission_id)
        if submission is None or not (viewer is None or viewer.may_access(submission.api_key_name)):
            raise SubmissionNotFound(
                f"no submission {submission_id[:40]!r}; finished ones are kept {self.settings.result_ttl_s} s"
            )
        return submission

    def get_many(self, ids: Sequence[str], *, viewer: Owner) -> list[Submission]:
        """The submissions of ``viewer``'s among ``ids``, in that order (others are left out, as unknown ones)."""
        return [s for s in self.store.get_many(ids) if viewer.may_access(s.api_key_name)]

    def delete(self, submission_id: str, *, viewer: Owner) -> Submission:
        """Delete ``viewer``'s finished submission; an active one is cancelled instead, and kept (Judge0's DELETE).

        Returns it in full, as it was when deleted, or as it is once cancelled.
        """
        submission = self.get(submission_id, viewer=viewer, with_events=True)
        if submission.state.finished:
            self.store.delete(submission_id)
            return submission
        with contextlib.suppress(SubmissionFinished):  # it ended meanwhile: it stays, as it ended
            self.cancel(submission_id)
        return self.get(submission_id, with_events=True)

    def cancel(self, submission_id: str, *, viewer: Owner | None = None) -> Submission:
        """Cancel the job (a queued one never runs, a running one's sandbox is killed), if ``viewer`` may."""
        if viewer is not None:
            self.get(submission_id, viewer=viewer)  # another owner's: not found, and nothing done
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

    async def stream(self, submission_id: str, last_event_id: str | None, *,
                     viewer: Owner | None = None) -> AsyncIterator[Event | None]:  # fmt: skip
        """Every event after ``last_event_id``, live; a finished job replays what was stored (``viewer``: as get).

        A live stream ends with the job's result, even if the result event itself was lost
        (the store is asked at each keep-alive), and after ``MAX_STREAM_S`` at the most: the
        client resumes with ``Last-Event-ID``.
        """
        submission = await asyncio.to_thread(lambda: self.get(submission_id, viewer=viewer, with_events=True))
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

    # --- sharing ------------------------------------------------------------------------------

    def share(self, body: bytes, owner: Owner) -> str:
        """Store ``owner``'s program (within its storage quota) and return its id: see :mod:`gosandbox.jobs.shares`."""
        return self.shares.put(body, owner, admit=lambda size: self.quota.check(owner, size))

    # --- upkeep -------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Purge expired results, cancelled jobs past their grace and expired shares; re-send queued jobs nobody
        holds; fail jobs whose worker vanished.

        Each part runs even if another fails (a database or queue outage): the next round retries.
        """
        now = time.time()
        for part in (self._purge, self._purge_cancelled, self._purge_shares, self._resend, self._fail_stale):
            try:
                part(now)
            except GosandboxError as exc:
                logger.warning("sweep: %s", exc)

    def _purge(self, now: float) -> None:
        purged = self.store.purge(now - self.settings.result_ttl_s)
        if purged:
            logger.info("purged %d finished submission(s)", purged)

    def _purge_cancelled(self, now: float) -> None:
        purged = self.store.purge_cancelled(now - self.settings.cancelled_keep_s)
        if purged:
            logger.info("purged %d cancelled job(s)", purged)

    def _purge_shares(self, now: float) -> None:
        purged = self.shares.purge(now)
        if purged:
            logger.info("purged %d expired share(s)", purged)

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

"""Running one job, the same way wherever it runs (the server's own slots, or a queue worker).

claim → ``state: running`` → the tool (run, test, vet, fmt, explain) with live ``compile`` and output
events → finish (compare-and-set: a cancelled or re-run job is never finished twice) →
``state`` and ``result`` events, the events stored with the submission, the callback sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import Any

from gosandbox import metrics
from gosandbox.backends.base import BuildOutcome, Observers
from gosandbox.backends.live import LiveStdin
from gosandbox.errors import GosandboxError, StoreUnavailable
from gosandbox.go_tools import explain, format_files, run_tests, vet
from gosandbox.jobs.events import RESULT, Event, EventLog, OutputEvents
from gosandbox.jobs.live import LIVE_INPUTS, Inputs
from gosandbox.jobs.outputs import compact_events
from gosandbox.jobs.store import Claim, Store
from gosandbox.jobs.submission import JobRequest, Kind, State, Submission
from gosandbox.jobs.webhooks import Webhooks
from gosandbox.judge.judging import Watchers, judge
from gosandbox.judge.task import CaseResult, JudgeTask
from gosandbox.logs import log_context
from gosandbox.problems import internal_error, problem_of
from gosandbox.runner import Runner

logger = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], None]


def perform(runner: Runner, request: JobRequest, cancel: threading.Event, observers: Observers,  # noqa: PLR0913 - the owner's name goes along
            publish: Publish | None = None, *, tenant: str = "") -> dict[str, Any]:  # fmt: skip
    """Run the request's tool; its result as the synchronous endpoint returns it (the program's output in the
    service's text form: :mod:`gosandbox.jobs.outputs`). ``publish``: a judging's ``case`` event per case;
    ``tenant``: the owner's API key name ("" keyless), so that its build shares no cache entry with another's."""
    spec = request.spec
    if request.kind is Kind.JUDGE:
        return judge_job(runner, request, cancel, observers, publish, tenant=tenant)
    if request.kind is Kind.RUN:
        result: Any = replace(runner.run(spec, cancel=cancel, observers=observers, tenant=tenant),
                              default_program=request.default_program)  # fmt: skip
    elif request.kind is Kind.TEST:
        result = run_tests(runner, spec, request.test_options, cancel, observers, tenant=tenant)
    elif request.kind is Kind.VET:
        result = vet(runner, spec)
    elif request.kind is Kind.EXPLAIN:
        result = explain(runner, spec, request.explain_options)
    else:
        result = format_files(runner, spec, request.sent_files)
    return asdict(result)


def judge_job(runner: Runner, request: JobRequest, cancel: threading.Event, observers: Observers,  # noqa: PLR0913 - the owner's name goes along
              publish: Publish | None, *, tenant: str = "") -> dict[str, Any]:  # fmt: skip
    """A judging: its build seen by the compile observer, a ``case`` event as each case ends."""
    task = JudgeTask.from_json(request.spec, request.judge or {})

    def heard(index: int, case: CaseResult) -> None:
        if publish is not None:  # its output is in the result: stored once, not again in each event
            shown = {name: value for name, value in asdict(case).items() if name not in ("stdout", "stderr")}
            publish("case", {"index": index, **shown})

    result = judge(runner, task, Watchers(observers.on_compiled, heard, cancel), tenant=tenant)
    return asdict(result)


class CancelSwitches:
    """The cancel events of the jobs this process holds (queued here or running), by submission id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}

    def add(self, submission_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(submission_id, threading.Event())

    def remove(self, submission_id: str) -> None:
        with self._lock:
            self._events.pop(submission_id, None)

    def cancel(self, submission_id: str) -> None:
        with self._lock:
            event = self._events.get(submission_id)
        if event is not None:
            logger.info("cancelling submission %s", submission_id)
            event.set()

    def cancel_all(self) -> None:
        with self._lock:
            events = list(self._events.values())
        for event in events:
            event.set()

    def __contains__(self, submission_id: object) -> bool:
        with self._lock:
            return submission_id in self._events

    def count(self) -> int:
        with self._lock:
            return len(self._events)


class JobEnd:
    """What follows the end of a job, whoever ended it (a worker, a canceller, a sweeper)."""

    def __init__(self, store: Store, events: EventLog, webhooks: Webhooks) -> None:
        self.store, self.events, self.webhooks = store, events, webhooks

    def announce_id(self, submission_id: str) -> None:
        submission = self.store.get_light(submission_id)
        if submission is not None:
            self.announce(submission)

    def announce(self, submission: Submission) -> None:
        """Publish the final ``state`` and ``result``, store the events, send the callback."""
        public = submission.public()
        self.events.publish(submission.id, "state", {"state": submission.state.value})
        self.events.publish(submission.id, RESULT, public)
        # The result event's data is the submission itself, and the output events' text is in its result:
        # both are stored once, in its row, not again here.
        events = [e if e.name != RESULT else Event(e.id, RESULT, {}) for e in self.events.history(submission.id)]
        self.store.set_events(submission.id, compact_events([e.to_json() for e in events], submission.result))
        self.events.retire(submission.id)
        if submission.callback_url:
            # Read in full: a compat layer's shape renders from the request and the events just stored.
            method, body = self.webhooks.callback_of(self.store.get(submission.id) or submission)
            self.webhooks.send(submission.id, submission.callback_url, body, method)


class _Abandoned(Exception):
    """Raised by the compile observer when the job was cancelled during its build: the run never starts."""


#: How long a finished job's result waits in memory for the database to come back.
_FINISH_RETRY_S = 60.0
#: How often a running job checks that it still owns its submission.
_OWNERSHIP_CHECK_S = 2.0


@contextmanager
def _watchdog(store: Store, submission_id: str, attempt: int, cancel: threading.Event) -> Iterator[None]:
    """While the job runs, stop it if it no longer owns its submission.

    Covers a cancel signal that never arrived (the queue was down) and a worker taken for dead
    while alive (its job was given to another worker): at most one attempt runs for long.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_OWNERSHIP_CHECK_S) and not cancel.is_set():
            try:
                if not store.owns(submission_id, attempt):
                    logger.info("submission %s: attempt %d lost its ownership; stopping it", submission_id, attempt)
                    cancel.set()
            except StoreUnavailable:
                pass  # the database is away: keep running, check again

    thread = threading.Thread(target=watch, name="job-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


class JobExecutor:
    """Runs jobs as ``worker``; a job whose worker was lost ``max_attempts`` times fails."""

    def __init__(self, runner: Runner, end: JobEnd, *, worker: str, max_attempts: int,
                 inputs: Inputs = LIVE_INPUTS) -> None:  # fmt: skip
        self.runner, self.end, self.store, self.events = runner, end, end.store, end.events
        self.worker, self.max_attempts = worker, max_attempts
        self.inputs = inputs  # interactive jobs' live stdin

    def recover(self, *, sync_clients_gone: bool) -> None:
        """After a restart: the jobs a killed predecessor of this worker held run again or fail.

        ``sync_clients_gone``: this process also took the synchronous requests (embedded), whose
        clients went with it; those jobs fail rather than run for nobody.
        """
        failed = self.store.abandon_sync(self.worker) if sync_clients_gone else []
        requeued, lost = self.store.requeue_lost(self.worker, self.max_attempts)
        for submission_id in failed + lost:
            self.end.announce_id(submission_id)
        if failed or requeued or lost:
            logger.warning("after a restart: %d synchronous job(s) failed, %d queued again, %d failed (worker lost)",
                           len(failed), len(requeued), len(lost))  # fmt: skip

    def execute(self, submission_id: str, token: str, cancel: threading.Event) -> bool:
        """Run the job if this delivery may; ``token`` names the queue message (see :meth:`Store.claim`).

        True when the job's tool ran (to its end, or killed by its cancel switch).
        """
        with log_context(submission_id=submission_id):
            return self._execute(submission_id, token, cancel)

    def _execute(self, submission_id: str, token: str, cancel: threading.Event) -> bool:
        outcome = self.store.claim(submission_id, token, self.worker, self.max_attempts)
        if outcome.claim is Claim.LOST:
            self.end.announce_id(submission_id)
        if outcome.claim is not Claim.RUN or outcome.request is None:
            return False

        def publish(name: str, data: dict[str, Any]) -> None:
            self.events.publish(submission_id, name, data)

        if cancel.is_set():  # cancelled (or stopped now) between the queue and its claim: nothing is built
            self._give_back(submission_id, outcome.attempt)
            return False
        publish("state", {"state": State.RUNNING.value, "attempt": outcome.attempt, "worker": self.worker})
        kind = str(outcome.request.get("kind"))
        metrics.job_started(kind, outcome.created_at)
        with _watchdog(self.store, submission_id, outcome.attempt, cancel), metrics.RUNS_IN_FLIGHT.track_inprogress():
            live = self.inputs.take(submission_id) if outcome.request.get("interactive") else None
            try:
                state, result, error = self._perform(outcome.request, cancel, publish, live, outcome.owner or "")
            finally:
                self.inputs.drop(submission_id)
        verdict = "cancelled" if cancel.is_set() else metrics.verdict_of(state.value, result)
        metrics.job_ended(kind, verdict, result, outcome.created_at)
        if cancel.is_set():
            self._give_back(submission_id, outcome.attempt)
            return True
        finished = self._finish(submission_id, outcome.attempt, state, result, error)
        if finished is not None:
            self.end.announce(finished)
        else:
            logger.info("submission %s: attempt %d no longer owns it", submission_id, outcome.attempt)
        return True

    def _give_back(self, submission_id: str, attempt: int) -> None:
        """Stopped by its cancel switch. Cancelled or taken over: whoever did it announces the end.
        Still ours: this process is stopping now, so the job goes back to the queue for another worker
        (or its client hung up and the store's cancel is on its way: it cancels the queued job)."""
        if self.store.release(submission_id, attempt):
            logger.warning("submission %s: stopped by a shutdown or its client's cancel; queued again", submission_id)

    def _finish(self, submission_id: str, attempt: int, state: State, result: dict[str, Any] | None,
                error: dict[str, Any] | None) -> Submission | None:  # fmt: skip
        """Record the end, riding out a short database outage (the result exists only here)."""
        deadline = time.monotonic() + _FINISH_RETRY_S
        while True:
            try:
                finished = self.store.finish(submission_id, attempt, state, result=result, error=error)
                return finished or self._finished_already(submission_id, attempt, state, result)
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def _finished_already(self, submission_id: str, attempt: int, state: State,
                          result: dict[str, Any] | None) -> Submission | None:  # fmt: skip
        """An earlier try may have committed, its answer lost with the connection: then it is ours."""
        current = self.store.get_light(submission_id)
        if current is not None and (current.state, current.attempts, current.result) == (state, attempt, result):
            return current
        return None

    def _perform(
        self,
        request_json: dict[str, Any],
        cancel: threading.Event,
        publish: Publish,
        live: LiveStdin | None = None,
        tenant: str = "",
    ) -> tuple[State, dict[str, Any] | None, dict[str, Any] | None]:
        output = OutputEvents(publish)

        def compiled(build: BuildOutcome) -> None:
            if cancel.is_set():  # cancelled while it was built: no sandbox for it, no "timeout" verdict
                raise _Abandoned
            publish("compile", {"succeeded": build.succeeded, "output": build.output,
                                "duration_ms": round(build.duration_s * 1000)})  # fmt: skip

        try:
            observers = Observers(on_compiled=compiled, on_output=output.write, live=live)
            result = perform(self.runner, JobRequest.from_json(request_json), cancel, observers, publish, tenant=tenant)
        except _Abandoned:
            return State.CANCELLED, None, None
        except GosandboxError as exc:
            logger.warning("job failed: %s", exc)
            return State.FAILED, None, problem_of(exc) or internal_error()
        except Exception:
            logger.exception("job failed unexpectedly")
            return State.FAILED, None, internal_error()
        finally:
            output.close()
        return State.DONE, result, None

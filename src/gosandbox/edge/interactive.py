"""One interactive run seen from the edge that holds its client: the job stored and followed, its stdin passed on,
and every bound a client must keep. The protocols (ours at ``/runs/interactive``, Piston's ``/api/v2/connect``)
are thin translations over :class:`InteractiveRun`.

Bounds, all from the settings (``GOSANDBOX_INTERACTIVE_*``):

- the run's wall-clock limit holds whatever the client does (the backend kills the program at it);
- ``idle_s``: a client that neither sends a message nor takes an event for this long is cut off, its run cancelled;
- ``stdin_bytes``: the stdin a run may get in all; more is refused and the run cancelled;
- ``message_bytes``: one message's size at most;
- a slow reader: events are pulled from the job's event log only as the client takes them (one awaited send at a
  time), so the server holds at most what the log holds, itself bounded by the output cap;
- a client that hangs up cancels its run (its sandbox is killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from gosandbox.backends.live import LiveStdin
from gosandbox.errors import GosandboxError, InvalidRequest, SubmissionFinished
from gosandbox.jobs.events import RESULT, Event
from gosandbox.jobs.live import inputs_for
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest, Kind, Owner, Submission
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

#: WebSocket close codes (4000-4999 are the application's; their reasons say more).
DONE = 1000
TOO_BIG = 1009
TRY_LATER = 1013
INTERNAL = 1011
BAD_MESSAGE = 4400
IDLE = 4408
STDIN_OVER_CAP = 4413
#: A close reason is at most 123 bytes (RFC 6455); a longer message goes in an error message before it.
_REASON_BYTES = 123


class Closing(Exception):
    """End the connection with ``code`` and ``reason`` (its run is cancelled unless it ended)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason

    @property
    def short_reason(self) -> str:
        return self.reason.encode()[:_REASON_BYTES].decode(errors="ignore")


@dataclass(frozen=True)
class Bounds:
    idle_s: float
    stdin_bytes: int
    message_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Bounds:
        return cls(settings.interactive_idle_s, settings.interactive_stdin_bytes, settings.interactive_message_bytes)


def closing_for(exc: GosandboxError) -> Closing:
    """The close a service error calls for: the client's fault, a wait, or ours."""
    status = getattr(exc, "status", 500)
    if status in (429, 503):
        return Closing(TRY_LATER, str(exc))
    if 400 <= status < 500:
        return Closing(BAD_MESSAGE, str(exc))
    return Closing(INTERNAL, "the service failed; the server log has its reason")


class InteractiveRun:
    """An interactive job from its start to its end, on this node."""

    def __init__(self, settings: Settings, service: JobService) -> None:
        self.settings, self.service = settings, service
        self.bounds = Bounds.of(settings)
        #: where its stdin goes: this process's executor, or a worker's through Redis
        self.inputs = inputs_for(settings.queue_url)
        self.submission: Submission | None = None
        self.live: LiveStdin | None = None
        self.ended = False
        self._last_activity = time.monotonic()
        self._finished = False

    async def start(self, job: JobRequest, owner: Owner) -> Submission:
        """Store the job as ``owner``'s (it runs on this node: its client is here) and open its stdin."""
        if job.kind is not Kind.RUN:
            raise InvalidRequest("only a run can be interactive")
        job = replace(job, interactive=True)
        submission, _ = await asyncio.to_thread(lambda: self.service.submit(job, owner=owner, sync=True))
        self.submission = submission
        self.live = self.inputs.open(submission.id)
        return submission

    def send(self, data: bytes) -> None:
        """Bytes for the program's stdin, within the cap."""
        live = self._live()
        if live.sent_bytes + len(data) > self.bounds.stdin_bytes:
            raise Closing(
                STDIN_OVER_CAP, f"stdin over its cap of {self.bounds.stdin_bytes} bytes; the run is cancelled"
            )
        live.send(data)

    def close_stdin(self) -> None:
        self._live().close()

    def signal(self, name: str) -> None:
        try:
            self._live().signal(name)
        except ValueError as exc:
            raise Closing(BAD_MESSAGE, str(exc)) from None

    async def cancel(self) -> None:
        """The client asked to stop: the job ends cancelled (its events say so)."""
        if self.submission is not None:
            with contextlib.suppress(SubmissionFinished):
                await asyncio.to_thread(self.service.cancel, self.submission.id)

    async def events(self) -> AsyncIterator[Event]:
        """The job's events as they happen, up to its result (keep-alives left out)."""
        assert self.submission is not None
        async for item in self.service.stream(self.submission.id, None):
            if item is None:
                continue
            yield item
            if item.name == RESULT:
                self.ended = True
                return

    async def finish(self) -> None:
        """The connection is over: a run that did not end is cancelled (its sandbox killed); its input forgotten."""
        if self.submission is None or self._finished:
            return
        self._finished = True
        if not self.ended:
            await self.service.abandon(self.submission.id)
        self.inputs.drop(self.submission.id)

    def touch(self) -> None:
        """The client sent a message or took an event."""
        self._last_activity = time.monotonic()

    async def watch_idle(self) -> None:
        """Raise :class:`Closing` once the client has neither sent nor taken anything for the idle limit."""
        while True:
            quiet = time.monotonic() - self._last_activity
            if quiet >= self.bounds.idle_s:
                raise Closing(IDLE, f"idle: nothing sent or read for {self.bounds.idle_s:g} s; the run is cancelled")
            await asyncio.sleep(self.bounds.idle_s - quiet)

    def check_size(self, size: int) -> None:
        if size > self.bounds.message_bytes:
            raise Closing(TOO_BIG, f"a message is at most {self.bounds.message_bytes} bytes")

    def _live(self) -> LiveStdin:
        if self.live is None:
            raise Closing(BAD_MESSAGE, "the run has not started: send the start message first")
        return self.live

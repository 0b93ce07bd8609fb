"""Who ends a run before the program does: the wall-clock deadline, the caller's cancel, the output cap."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import docker

from gosandbox.backends.base import ExecJob
from gosandbox.backends.cgroups import SandboxUsage, read_usage
from gosandbox.backends.streams import BoundedOutput, go_crash

logger = logging.getLogger(__name__)

#: A program already crashing when its output passed the cap may finish its crash report (kept nowhere) this
#: long, so that its own exit code stands; then it is killed.
CRASH_EXIT_GRACE_S = 1.0
#: After a kill, the engine ends the exec's stream within milliseconds when it can; past this, it never will.
STUCK_STREAM_S = 2.0


class SandboxKiller:
    """Kills a sandbox at most once and remembers why; :meth:`_kill` says how (one subclass per backend).

    The kill runs in its own thread: the engine waits for the exec's output to be read
    before the container can die, so the reader must keep draining meanwhile.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        #: the sandbox's counters just before the kill (its cgroup goes with it)
        self.usage: SandboxUsage | None = None
        self._lock = threading.Lock()

    def kill(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
        threading.Thread(target=self._kill, name="sandbox-kill", daemon=True).start()

    def kill_unless(self, finished: threading.Event, reason: str, after_s: float) -> None:
        """Kill after ``after_s`` unless ``finished`` is set by then."""

        def wait_then_kill() -> None:
            if not finished.wait(after_s):
                self.kill(reason)

        threading.Thread(target=wait_then_kill, name="sandbox-kill-later", daemon=True).start()

    def note(self, reason: str) -> None:
        """Remember a reason without killing: the sandbox died of it already."""
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def _kill(self) -> None:
        raise NotImplementedError


class Killer(SandboxKiller):
    """Kills a Docker container, then hangs up the exec's stream if the engine does not end it.

    Under runsc the engine never ends a ``docker exec`` stream whose sandbox died (its Sentry gone, the exec's
    process with it): without the hang-up, a run whose sandbox died would wait forever.
    """

    def __init__(self, client: docker.DockerClient, container_id: str) -> None:
        super().__init__()
        self.client, self.container_id = client, container_id
        self._stream_ended: threading.Event | None = None
        self._hang_up: Callable[[], None] | None = None

    def hang_up_if_stuck(self, stream_ended: threading.Event, hang_up: Callable[[], None]) -> None:
        """After a kill: call ``hang_up`` unless ``stream_ended`` is set within :data:`STUCK_STREAM_S`."""
        self._stream_ended, self._hang_up = stream_ended, hang_up

    def _kill(self) -> None:
        self.usage = read_usage(self.container_id)
        try:
            self.client.api.kill(self.container_id)
        except docker.errors.APIError as exc:  # already dead is fine
            logger.debug("kill %s: %s", self.container_id[:12], exc)
        ended, hang_up = self._stream_ended, self._hang_up
        if ended is not None and hang_up is not None and not ended.wait(STUCK_STREAM_S):
            logger.warning("sandbox %s: the exec stream outlived the kill; hanging up", self.container_id[:12])
            hang_up()


def watch(
    killer: SandboxKiller,
    job: ExecJob,
    finished: threading.Event,
    started: float,
    cpu_used_ns: Callable[[], int | None] | None = None,
) -> None:
    """Kill the sandbox at the wall-clock deadline, when the caller cancels, or at the job's CPU-time limit.

    ``cpu_used_ns`` reads the program's CPU time so far: its sandbox's cgroup under runc, the figures of its
    supervisor under runsc (``SupervisorLink.cpu_used_ns``); None until it can tell.
    """
    cpu_limit_ns = None if job.limits.cpu_ms is None or cpu_used_ns is None else job.limits.cpu_ms * 1_000_000

    def until_deadline() -> None:
        deadline = started + job.limits.wall_s
        while not finished.wait(0.02):
            if job.cancel.is_set():
                killer.kill("cancelled")
                return
            if time.monotonic() >= deadline:
                killer.kill("timeout")
                return
            if cpu_limit_ns is not None and cpu_used_ns is not None and (cpu_used_ns() or 0) >= cpu_limit_ns:
                killer.kill("cpu")
                return

    threading.Thread(target=until_deadline, name="sandbox-watch", daemon=True).start()


def stop_flood(killer: SandboxKiller, output: BoundedOutput, finished: threading.Event) -> None:
    """Output passed the cap: kill now, unless the program is already crashing (then let it end its own way)."""
    if go_crash(bytes(output.stderr)) is None:
        killer.kill("output")
    else:
        killer.kill_unless(finished, "output", CRASH_EXIT_GRACE_S)

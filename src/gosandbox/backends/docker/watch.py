"""Who ends a run before the program does: the wall-clock deadline, the caller's cancel, the output cap."""

from __future__ import annotations

import logging
import threading
import time

import docker

from gosandbox.backends.base import ExecJob
from gosandbox.backends.docker.cgroups import SandboxUsage, read_usage
from gosandbox.backends.docker.streams import BoundedOutput
from gosandbox.verdict import go_crash

logger = logging.getLogger(__name__)

#: A program already crashing when its output passed the cap may finish its crash report (kept nowhere) this
#: long, so that its own exit code stands; then it is killed.
CRASH_EXIT_GRACE_S = 1.0


class Killer:
    """Kills a sandbox at most once and remembers why.

    The kill runs in its own thread: the engine waits for the exec's output to be read
    before the container can die, so the reader must keep draining meanwhile.
    """

    def __init__(self, client: docker.DockerClient, container_id: str) -> None:
        self.client, self.container_id = client, container_id
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
        self.usage = read_usage(self.container_id)
        try:
            self.client.api.kill(self.container_id)
        except docker.errors.APIError as exc:  # already dead is fine
            logger.debug("kill %s: %s", self.container_id[:12], exc)


def watch(killer: Killer, job: ExecJob, finished: threading.Event, started: float) -> None:
    """Kill the sandbox at the wall-clock deadline or when the caller cancels."""

    def until_deadline() -> None:
        deadline = started + job.limits.wall_s
        while not finished.wait(0.02):
            if job.cancel.is_set():
                killer.kill("cancelled")
                return
            if time.monotonic() >= deadline:
                killer.kill("timeout")
                return

    threading.Thread(target=until_deadline, name="sandbox-watch", daemon=True).start()


def stop_flood(killer: Killer, output: BoundedOutput, finished: threading.Event) -> None:
    """Output passed the cap: kill now, unless the program is already crashing (then let it end its own way)."""
    if go_crash(bytes(output.stderr)) is None:
        killer.kill("output")
    else:
        killer.kill_unless(finished, "output", CRASH_EXIT_GRACE_S)

"""A backend that runs nothing, for testing the layers above the backends.

Like httpx's ``MockTransport``, it takes functions that decide each outcome::

    backend = FakeBackend(execute=lambda job: ExecOutcome(0, None, b"hi\\n", b"", 0.01))

Every fact a real backend reports can be faked, the sandbox's usage too::

    FakeBackend(execute=lambda job: ExecOutcome(0, None, b"", b"", 0.5, cpu_time_ms=480, peak_memory_kb=2048))
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome

BuildHandler = Callable[[BuildJob], BuildOutcome]
ExecHandler = Callable[[ExecJob], ExecOutcome]


def _compile_everything(job: BuildJob) -> BuildOutcome:
    binary = "\n".join(f"{name}:{text}" for name, text in sorted(job.files.items())).encode()
    return BuildOutcome(succeeded=True, output="", binary=binary, duration_s=0.0)


def _exit_zero(job: ExecJob) -> ExecOutcome:
    return ExecOutcome(exit_code=0, signal=None, stdout=job.stdin, stderr=b"", duration_s=0.0)


class FakeBackend:
    """Every build succeeds and every program echoes its stdin, unless handlers say otherwise."""

    go_version = "go0.0-fake"

    def __init__(self, build: BuildHandler = _compile_everything, execute: ExecHandler = _exit_zero) -> None:
        self._build, self._execute = build, execute
        self._lock = threading.Lock()
        self.builds: list[BuildJob] = []
        self.executions: list[ExecJob] = []
        self.ready_error: Exception | None = None
        self.closed = False
        self.started = False
        self.go_versions = [self.go_version]

    def build(self, job: BuildJob) -> BuildOutcome:
        with self._lock:
            self.builds.append(job)
        return self._build(job)

    def execute(self, job: ExecJob) -> ExecOutcome:
        with self._lock:
            self.executions.append(job)
        outcome = self._execute(job)
        if job.on_output is not None:  # as a real backend would have streamed it
            for name, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
                if data:
                    job.on_output(name, data)
        return outcome

    @property
    def build_identity(self) -> str:
        return self.go_version

    def start(self) -> None:
        self.started = True

    def check_ready(self) -> None:
        if self.ready_error is not None:
            raise self.ready_error

    def close(self) -> None:
        self.closed = True

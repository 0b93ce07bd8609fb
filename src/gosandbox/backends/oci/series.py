"""One program, many runs, one sandbox: the judge's cases one after another, under runc (``gosandbox-agent series``).

A judging runs the same binary, with the same limits and package files, on each case's input. Starting a
sandbox for each case costs a runtime start per case; here one sandbox serves up to :data:`SERIES_CASES`
of them. Its first process is the series supervisor (images/series.go): another uid than the program, no
capability over files, not dumpable, so the program can neither signal, trace nor read it. It hears us on its
stdin (runc copies our socket there) and answers through a FIFO that only its uid may open. For each case it
starts the program as a new process (its rlimits count afresh), waits until every process of the case is
dead, empties the places the program may write (``/tmp``, ``/dev/shm``, ``/dev/mqueue``, System V IPC
objects) and only then says ``end``. What a case sees is what a run in a sandbox of its own sees (but its pid:
the supervisor is PID 1); what one case leaves, the next cannot find. Each case's stdin file is handed over
when the case starts and removed when it ends.

Each case's figures are its own: the cgroup's memory peak is started over before the case, less the memory in
use then (cgroup v1; v2 has no reset), its CPU time is the supervisor's ``wait4`` figure for the case's
processes (bounded by the cgroup's since the case started), and its OOM kills and refused forks are the
counters' growth during it. The limits are each case's: the wall-clock deadline, the CPU-time limit and the
output cap are watched per case (``watch.py``) and end the case with ``stop N`` (a stop names its case: a late
one never reaches the next). The sandbox's memory, pids and CPU limits hold for each case in turn.

A sandbox that ends without telling a case's end leaves the rest of the cases to a new sandbox (so does a
supervisor that could not empty the writable places: it ends the series after that case's ``end``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import selectors
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gosandbox.backends.base import ExecJob, ExecOutcome, Outcomes
from gosandbox.backends.cgroups import (
    CgroupPlaces,
    cpu_time_ns_at,
    read_usage_at,
)
from gosandbox.backends.handover import hand_over_stdin
from gosandbox.backends.oci.ahead import nul_ended
from gosandbox.backends.oci.outcome import KILLED_EXIT, RunEnd, outcome
from gosandbox.backends.oci.series_case import CaseOutput, CaseStart, CaseStopper
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import ProgramEnd, SocketChannel, program_cpu_ns
from gosandbox.backends.watch import stop_flood, watch
from gosandbox.errors import SandboxFailure

logger = logging.getLogger(__name__)

#: The cases one sandbox serves at most: its supervisor's own CPU time stays far below the RLIMIT_CPU it holds.
SERIES_CASES = 50
#: How long the supervisor may take to say ``ready`` (a runtime start) or ``end`` after a stop.
_READY_S = 30.0
#: How long both marks may follow the end line: runc copies what is in its pipes within milliseconds.
_MARK_WAIT_S = 5.0
_READ_BYTES = 64 * 1024
_LINE_BYTES = 200


def same_program(jobs: Sequence[ExecJob]) -> bool:
    """Whether ``jobs`` can be one series: the same binary, limits and files, no live input, nothing streamed."""
    first = jobs[0]
    return all(
        job.binary == first.binary and job.limits == first.limits and job.package_files == first.package_files
        and job.live is None and job.on_output is None and nul_ended(job.args) is not None
        for job in jobs
    )  # fmt: skip


class SeriesSandbox:
    """The server's side of one series sandbox: its runtime process (stdout and stderr), our socket to its
    supervisor, and the FIFO of the supervisor's lines."""

    def __init__(self, process: subprocess.Popen[bytes], channel: SocketChannel, where: SeriesPlace,
                 report: int) -> None:  # fmt: skip
        assert process.stdout is not None
        assert process.stderr is not None
        self.process, self.channel, self.where = process, channel, where
        self._selector = selectors.DefaultSelector()
        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            os.set_blocking(stream.fileno(), False)  # drained to empty when the sandbox ends
            self._selector.register(stream, selectors.EVENT_READ, name)
        self._report: int | None = report
        self._selector.register(report, selectors.EVENT_READ, "channel")
        self._lines = b""
        self._sending = threading.Lock()
        self._state = threading.Lock()  # the case number and whether it runs, against a late kill
        self._cases = 0
        self._running = False  # case number _cases runs (until its end was read)
        #: the sandbox ended, or will not serve another case
        self.over = False
        self._case: CaseOutput | None = None
        self._before_ready = b""  # what the sandbox wrote before it was ready: its supervisor's last words

    def wait_ready(self) -> None:
        """Until the supervisor says ``ready``; :class:`SandboxFailure` when the sandbox ends first."""
        deadline = time.monotonic() + _READY_S
        while time.monotonic() < deadline:
            if "ready" in self._read(min(0.5, deadline - time.monotonic())):
                return
            if self.over:
                break
        logger.warning("a series sandbox ended before it was ready: %r", self._before_ready)
        raise SandboxFailure("the series sandbox did not start its supervisor; the server log has its last words")

    def run(self, job: ExecJob, stdin_path: str) -> ExecOutcome | None:
        """Run one case to its end; None when the sandbox ended before the case could start."""
        if self.over:
            return None
        with self._state:
            self._cases += 1
            number, self._running = self._cases, True
        before = CaseStart.now(self.where.places)
        finished = threading.Event()  # the program's first process ended: no deadline, no stop any more
        killer = CaseStopper(lambda: self._stop(number), lambda: self._kill_case(number), finished)
        output = BoundedOutput(job.limits.output_bytes, lambda: stop_flood(killer, output, finished))
        mark = secrets.token_hex(16)
        case = self._case = CaseOutput(output, mark.encode())
        body = nul_ended([mark, stdin_path, *job.args])
        assert body is not None  # same_program() let only such jobs in
        started = time.monotonic()
        try:
            self._send(b"case %d\n" % len(body) + body)
        except OSError:
            self.over, self._running = True, False
            return None
        watch(killer, job, finished, started, lambda: self._cpu_used_ns(case, before))
        self._until_end(case, finished)  # an exception leaves the case running: close() kills it
        finished.set()
        with self._state:
            self._running = False
        duration = (case.exited or time.monotonic()) - started
        return self._outcome(killer, case, before, duration)

    def close(self) -> None:
        """Hang up (the supervisor then ends), then the sandbox's removal; a case left running is killed first."""
        with self._state:
            if self._running:
                self.where.kill()
        self.over = True
        self._selector.close()
        self.channel.close()
        if self._report is not None:
            os.close(self._report)
            self._report = None
        self.where.end(self.process)

    def _stop(self, number: int) -> None:
        with contextlib.suppress(OSError):  # the sandbox is gone already
            self._send(b"stop %d\n" % number)

    def _kill_case(self, number: int) -> None:
        """Kill the sandbox if case ``number`` still runs in it (a stop it did not answer)."""
        with self._state:
            if self._running and self._cases == number:
                self.where.kill()

    def _send(self, message: bytes) -> None:
        with self._sending:
            self.channel.send(message)

    def _cpu_used_ns(self, case: CaseOutput, before: CaseStart) -> int | None:
        if case.progress_ns is None:
            return None
        return program_cpu_ns(case.progress_ns, cpu_time_ns_at(self.where.places), before.cpu_ns)

    def _until_end(self, case: CaseOutput, finished: threading.Event) -> ProgramEnd | None:
        """Read the case's output and the supervisor's lines until its end and both marks (None: the sandbox
        ended before the end); a supervisor that ends after this case (``over``) serves no other."""
        while True:
            lines = self._read(0 if self.over else 0.5 if case.end is None else 0.05)
            for line in lines:
                case.hear(line)
            if case.exited is not None:
                finished.set()
            marks_due = self.over or time.monotonic() - case.end_read > _MARK_WAIT_S
            if (case.end is not None and (case.complete or marks_due)) or (self.over and not lines):
                break
        if not case.complete:  # the sandbox ended (or its output stopped) before the marks
            self._drain(case)
            case.flush()
            if not self.over:
                logger.warning("a series sandbox's output did not end its case; the sandbox serves no more")
            self.over = True
        self.over = self.over or case.last
        return case.end

    def _read(self, timeout_s: float) -> list[str]:
        """What is ready within ``timeout_s``: output to the case, the supervisor's complete lines returned."""
        lines: list[str] = []
        for key, _ in self._selector.select(timeout_s):
            try:
                data = os.read(key.fd, _READ_BYTES)
            except BlockingIOError:
                continue
            if not data:
                self.over = True  # the runtime's stdout or stderr closed: the sandbox is gone
            elif key.data == "channel":
                self._lines += data
                *complete, self._lines = self._lines.split(b"\n")
                lines += [line[:_LINE_BYTES].decode("ascii", errors="replace").strip() for line in complete]
                self._lines = self._lines[-_LINE_BYTES:]
            elif self._case is not None:
                self._case.take(key.data, data)
            else:
                self._before_ready = (self._before_ready + data)[-_LINE_BYTES * 10 :]
        return lines

    def _drain(self, case: CaseOutput) -> None:
        """Read the pipes until they are empty (the sandbox ended: so did their writers)."""
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        for stream, name in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr")):
            while True:
                try:
                    data = os.read(stream.fileno(), _READ_BYTES)
                except (BlockingIOError, ValueError, OSError):
                    break
                if not data:
                    break
                case.take(name, data)

    def _outcome(self, killer: CaseStopper, case: CaseOutput, before: CaseStart, duration_s: float) -> ExecOutcome:
        after, end, output = read_usage_at(self.where.places), case.end, case.output
        usage = before.since(after, end.cpu_ns if end is not None else case.progress_ns)
        if end is None:
            self.over = True
            oom = (usage.oom_kills or 0) > 0
            if killer.reason is None and not oom:
                raise SandboxFailure("the series sandbox ended during a case; the server log has its runtime's answer")
            return outcome(killer, output, RunEnd(KILLED_EXIT, duration_s, usage, unexplained_kill_is_oom=oom))
        return outcome(killer, output, RunEnd(end.shell_status, duration_s, usage, cpu_limit_hit=end.cpu_limit_hit))


@dataclass(frozen=True)
class SeriesPlace:
    """Where a series sandbox is, and the backend's hands on it: kill it, and end it (wait, then remove it)."""

    sandbox_dir: Path  # the host directory bound at /sandbox
    places: CgroupPlaces
    kill: Callable[[], None]
    end: Callable[[subprocess.Popen[bytes]], None]


def run_series(jobs: Sequence[ExecJob], start: Callable[[ExecJob], SeriesSandbox]) -> Outcomes:
    """Each job's outcome in order, in one sandbox (``start``) for as long as it serves; the rest in another."""
    done = 0
    while done < len(jobs):
        sandbox, first = start(jobs[done]), done
        try:
            sandbox.wait_ready()
            for job in jobs[done : done + SERIES_CASES]:
                name = f"stdin-{done}"
                path = hand_over_stdin(sandbox.where.sandbox_dir, name, job.stdin)
                try:
                    result = sandbox.run(job, path)
                finally:
                    with contextlib.suppress(OSError):
                        (sandbox.where.sandbox_dir / name).unlink()
                if result is None:
                    if done == first:
                        raise SandboxFailure("a series sandbox ended before its first case")
                    break
                done += 1
                yield result
        finally:
            sandbox.close()

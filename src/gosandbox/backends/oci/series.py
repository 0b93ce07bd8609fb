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
import selectors
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.cgroups import (
    CgroupPlaces,
    SandboxUsage,
    cpu_time_ns_at,
    memory_in_use,
    read_usage_at,
    reset_peak_memory_at,
)
from gosandbox.backends.handover import hand_over_stdin
from gosandbox.backends.oci.ahead import nul_ended
from gosandbox.backends.oci.outcome import KILLED_EXIT, RunEnd, outcome
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import ProgramEnd, SocketChannel, program_cpu_ns, program_end, progress_ns
from gosandbox.backends.watch import STUCK_STREAM_S, SandboxKiller, stop_flood, watch
from gosandbox.errors import SandboxFailure

logger = logging.getLogger(__name__)

#: The cases one sandbox serves at most: its supervisor's own CPU time stays far below the RLIMIT_CPU it holds.
SERIES_CASES = 50
#: How long the supervisor may take to say ``ready`` (a runtime start) or ``end`` after a stop.
_READY_S = 30.0
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
    """The server's side of one series sandbox: its runtime process (stdout and stderr) and its socket."""

    def __init__(self, process: subprocess.Popen[bytes], channel: SocketChannel, where: SeriesPlace,
                 report: int) -> None:  # fmt: skip
        """``channel``: to the supervisor (its stdin); ``report``: where its lines come (a FIFO we hold open)."""
        assert process.stdout is not None
        assert process.stderr is not None
        self.process, self.channel, self.where = process, channel, where
        self.places = where.places
        self._selector = selectors.DefaultSelector()
        for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
            os.set_blocking(stream.fileno(), False)  # drained to empty after each case
            self._selector.register(stream, selectors.EVENT_READ, name)
        self._report: int | None = report
        self._selector.register(report, selectors.EVENT_READ, "channel")
        self._lines = b""
        self._sending = threading.Lock()
        self._cases = 0
        #: the sandbox ended (or will not serve another case)
        self.over = False
        self._progress_ns: int | None = None
        self._running = False  # a case runs (until its end was read)
        self._before_ready = b""  # what the sandbox wrote before it was ready: its supervisor's last words

    def wait_ready(self) -> None:
        """Until the supervisor says ``ready``; :class:`SandboxFailure` when the sandbox ends first."""
        deadline = time.monotonic() + _READY_S
        while time.monotonic() < deadline:
            for line in self._read(None, min(0.5, deadline - time.monotonic())):
                if line == "ready":
                    return
            if self.over:
                break
        logger.warning("a series sandbox ended before it was ready: %r", self._before_ready)
        raise SandboxFailure("the series sandbox did not start its supervisor; the server log has its last words")

    def run(self, job: ExecJob, stdin_path: str) -> ExecOutcome | None:
        """Run one case to its end; None when the sandbox ended before the case could start."""
        if self.over:
            return None
        self._cases += 1
        number, self._progress_ns = self._cases, None
        before = _CaseStart.now(self.places)
        finished = threading.Event()
        killer = _CaseStopper(self, number, finished)
        output = BoundedOutput(job.limits.output_bytes, lambda: stop_flood(killer, output, finished))
        body = nul_ended([stdin_path, *job.args])
        assert body is not None  # same_program() let only such jobs in
        started = time.monotonic()
        try:
            self._send(b"case %d\n" % len(body) + body)
        except OSError:
            self.over = True
            return None
        watch(killer, job, finished, started, lambda: self._cpu_used_ns(before))
        self._running = True
        try:
            end = self._until_end(output)
        finally:
            finished.set()
            self._running = False
        return self._outcome(killer, output, end, before, time.monotonic() - started)

    def stop(self, number: int) -> None:
        """Kill case ``number``'s processes, if it still runs; the whole sandbox if its supervisor does not answer."""
        try:
            self._send(b"stop %d\n" % number)
        except OSError:
            return  # the sandbox is gone already

    def kill(self) -> None:
        self.where.kill()

    def close(self) -> None:
        """Hang up (the supervisor then ends), then the sandbox's removal; a case left running is killed first."""
        if self._running:  # an exception while it ran: its supervisor would wait for it to end
            self.kill()
        self.over = True
        self._selector.close()
        self.channel.close()
        if self._report is not None:
            os.close(self._report)
            self._report = None
        self.where.end(self.process)

    def _send(self, message: bytes) -> None:
        with self._sending:
            self.channel.send(message)

    def _cpu_used_ns(self, before: _CaseStart) -> int | None:
        if self._progress_ns is None:
            return None
        return program_cpu_ns(self._progress_ns, cpu_time_ns_at(self.places), before.cpu_ns)

    def _until_end(self, output: BoundedOutput) -> ProgramEnd | None:
        """Read the case's output and the supervisor's lines until its end (None: the sandbox ended first)."""
        while True:
            lines = self._read(output, 0 if self.over else 0.5)  # after the end, what was said before it
            for line in lines:
                if (progress := progress_ns(line)) is not None:
                    self._progress_ns = progress
                elif (end := program_end(line)) is not None:
                    self._drain(output)  # every process of the case is dead: what it wrote is in the pipes
                    return end
            if self.over and not lines:
                self._drain(output)
                return None

    def _read(self, output: BoundedOutput | None, timeout_s: float) -> list[str]:
        """What is ready within ``timeout_s``: output to ``output``, the supervisor's complete lines returned."""
        lines: list[str] = []
        for key, _ in self._selector.select(timeout_s):
            try:
                data = os.read(key.fd, _READ_BYTES)
            except BlockingIOError:
                continue
            if key.data == "channel":
                if not data:
                    self.over = True
                    continue
                self._lines += data
                *complete, self._lines = self._lines.split(b"\n")
                lines += [line[:_LINE_BYTES].decode("ascii", errors="replace").strip() for line in complete]
                self._lines = self._lines[-_LINE_BYTES:]
            elif data and output is not None:
                _feed(output, key.data, data)
            elif data:
                self._before_ready = (self._before_ready + data)[-_LINE_BYTES * 10 :]
            elif not data:
                self.over = True  # the runtime's stdout closed: the sandbox is gone
        return lines

    def _drain(self, output: BoundedOutput) -> None:
        """Read the pipes until they are empty (their writers are dead)."""
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
                _feed(output, name, data)

    def _outcome(self, killer: _CaseStopper, output: BoundedOutput, end: ProgramEnd | None, before: _CaseStart,
                 duration_s: float) -> ExecOutcome:  # fmt: skip
        after = read_usage_at(self.places)
        usage = before.since(after, end.cpu_ns if end is not None else self._progress_ns)
        if end is None:
            self.over = True
            oom = (usage.oom_kills or 0) > 0
            if killer.reason is None and not oom:
                raise SandboxFailure("the series sandbox ended during a case; the server log has its runtime's answer")
            return outcome(killer, output, RunEnd(KILLED_EXIT, duration_s, usage, unexplained_kill_is_oom=oom))
        return outcome(killer, output, RunEnd(end.shell_status, duration_s, usage, cpu_limit_hit=end.cpu_limit_hit))


def _feed(output: BoundedOutput, name: str, data: bytes) -> None:
    if not output.exceeded:  # past the cap the rest is read and dropped
        output.feed([(data, None) if name == "stdout" else (None, data)])


@dataclass(frozen=True)
class _CaseStart:
    """The sandbox's counters as a case starts (its memory peak started over then)."""

    cpu_ns: int | None
    memory_bytes: int | None
    oom_kills: int
    forks_refused: int

    @classmethod
    def now(cls, places: CgroupPlaces) -> _CaseStart:
        reset_peak_memory_at(places)
        counters = read_usage_at(places)
        return cls(counters.cpu_ns, memory_in_use(places), counters.oom_kills or 0, counters.forks_refused or 0)

    def since(self, after: SandboxUsage, supervisor_cpu_ns: int | None) -> SandboxUsage:
        """The case's own figures: what grew since, the peak above the memory in use at its start."""
        peak = after.peak_memory_bytes
        if peak is not None and self.memory_bytes is not None:
            peak = max(0, peak - self.memory_bytes)
        return replace(
            after,
            cpu_ns=program_cpu_ns(supervisor_cpu_ns, after.cpu_ns, self.cpu_ns),
            peak_memory_bytes=peak,
            oom_kills=None if after.oom_kills is None else after.oom_kills - self.oom_kills,
            forks_refused=None if after.forks_refused is None else after.forks_refused - self.forks_refused,
        )


class _CaseStopper(SandboxKiller):
    """Ends one case of a series: ``stop N``, then the whole sandbox should its supervisor not answer."""

    def __init__(self, sandbox: SeriesSandbox, number: int, ended: threading.Event) -> None:
        super().__init__()
        self.sandbox, self.number, self.ended = sandbox, number, ended

    def _kill(self) -> None:
        self.sandbox.stop(self.number)
        if not self.ended.wait(STUCK_STREAM_S):
            self.sandbox.kill()


@dataclass(frozen=True)
class SeriesPlace:
    """Where a series sandbox is, and the backend's hands on it: kill it, and end it (wait, then remove it)."""

    sandbox_dir: Path  # the host directory bound at /sandbox
    places: CgroupPlaces
    kill: Callable[[], None]
    end: Callable[[subprocess.Popen[bytes]], None]


def run_series(jobs: Sequence[ExecJob], start: Callable[[ExecJob], SeriesSandbox]) -> Iterator[ExecOutcome]:
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
                    if name == f"stdin-{first}":
                        raise SandboxFailure("a series sandbox ended before its first case")
                    break
                done += 1
                yield result
        finally:
            sandbox.close()

"""The backend's end of a gVisor run sandbox's supervisor (``gosandbox-agent supervise``, images/supervise.go).

Under runsc the sandbox's cgroup holds gVisor's own host tasks (the Sentry, the Gofer, the ptrace stubs) beside
the program, so its counters are not the program's. The supervisor, the sandbox's first process, starts the
program as its child under another uid and tells us, on a socket only it holds (its stdin):

- ``ready``: set up, the program not started. We start the cgroup's memory peak over and note the memory in
  use (gVisor's own, about 14 MiB) and the CPU time so far, then answer ``go``.
- ``cpu_us=N`` every 100 ms (every 10 ms under a CPU-time limit), and ``end exit=N|signal=N cpu_us=N
  cpu_limit=0|1`` once every process of the program is dead: the CPU time of the program's processes as gVisor
  accounts for its tasks (wait4's rusage). After ``end`` the sandbox lives on until we hang up, so the cgroup is
  read while it exists.

The program's figures, each from the source that is exact for it (runsc 20221219, ptrace platform, measured):

- Peak memory: the cgroup's peak since ``ready`` less the memory in use then. The program's ``ru_maxrss`` counts
  gVisor's 2 MiB allocation units (12.9 MiB for a hello world, 55-60 MiB for 40 MiB touched); the memory in use
  seen from inside (``/proc/meminfo``, what ``runsc events --stats`` reports) is right but only a current value,
  and a sampler starved by a busy host missed short peaks (0 KiB for a hello world, 39 MiB for 40).
- CPU time: the smaller of the supervisor's figure and the cgroup's CPU time since ``ready``. Each is the
  program's and more: gVisor counts a task waiting for a host CPU as running (a hello world read 60-230 ms on
  a host at load 12, against 17-26 ms of the cgroup's), and the cgroup counts gVisor's own work (136-176 ms
  during a 1 s sleep whose tasks gVisor charged 20-40 ms). The CPU-time limit is held on the same figure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from gosandbox.backends.cgroups import (
    CgroupPlaces,
    SandboxUsage,
    cpu_time_ns_at,
    memory_in_use,
    merge_usage,
    read_usage_at,
    reset_peak_memory_at,
)
from gosandbox.backends.docker.images import AGENT
from gosandbox.backends.handover import PROGRAM_PATH, SANDBOX_DIR, STDIN_PATH
from gosandbox.policy import INIT_UID, PROGRAM_UID

logger = logging.getLogger(__name__)

#: What the supervisor needs to start the program as another uid with none of them, and to kill all of it.
SUPERVISOR_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL")
_END = re.compile(r"end (exit|signal)=(\d+) cpu_us=(\d+) cpu_limit=([01])")
_PROGRESS = re.compile(r"cpu_us=(\d+)")
#: Where the Docker backend's supervisor writes its lines: a file in the hand-over directory, bound writable.
REPORT_NAME = "report"
REPORT_PATH = f"{SANDBOX_DIR}/{REPORT_NAME}"
_REPORT_MODE = 0o600
_LINE_BYTES = 200
#: How often the Docker backend reads the supervisor's report file.
_POLL_S = 0.002
#: The supervisor's STDIN argument for a live run (images/supervise.go): a pipe fed by our messages.
LIVE_STDIN = "@backend"
#: A live run's input waits this long at most for the program to start.
_START_WAIT_S = 30.0


def supervisor_args(
    program_args: tuple[str, ...], cpu_ms: int | None, *, docker: bool = False, live: bool = False,
    uid: int = PROGRAM_UID,
) -> list[str]:  # fmt: skip
    """The sandbox's first process: the supervisor, which starts the program (stdin from its file) as ``uid``.

    ``live``: the program's stdin is a pipe the supervisor feeds from our messages (:class:`SupervisorStdin`).
    It runs as INIT_UID. Under Docker it starts as root and becomes INIT_UID itself (the engine gives a non-root
    user's added capabilities to its bounding set only), and writes its lines to REPORT_PATH instead of its stdin.
    """
    limit = str(cpu_ms) if cpu_ms is not None else "0"
    first = [f"--as={INIT_UID}"] if docker else []
    report = REPORT_PATH if docker else "-"
    stdin = LIVE_STDIN if live else STDIN_PATH
    return [AGENT, "supervise", *first, str(uid), limit, report, stdin, PROGRAM_PATH, *program_args]


def series_args(cpu_ms: int | None, tasks: int, *, report: str, uid: int = PROGRAM_UID) -> list[str]:
    """The first process of a sandbox that runs one program on many cases (``gosandbox-agent series``, runc).

    It starts as root and becomes INIT_UID itself (runc gives a non-root first process its capabilities only as
    ambient ones, which the program would inherit), and writes its lines to ``report``: runc copies our socket to
    the sandbox's stdin through a pipe of its own, which reads only. Each case's program may hold ``tasks``
    tasks (RLIMIT_NPROC): the sandbox's pids limit leaves room above that for the supervisor.
    """
    limit = str(cpu_ms) if cpu_ms is not None else "0"
    return [AGENT, "series", f"--as={INIT_UID}", str(uid), limit, str(tasks), report, PROGRAM_PATH]


def create_report(path: Path) -> Path:
    """An empty report file that only the supervisor's uid may open: the program (another uid) cannot write it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, _REPORT_MODE)
    try:
        os.fchmod(descriptor, _REPORT_MODE)  # whatever the umask
        os.fchown(descriptor, INIT_UID, INIT_UID)
    finally:
        os.close(descriptor)
    return path


@dataclass(frozen=True)
class ProgramEnd:
    """How the program ended, as its supervisor saw it."""

    exit_code: int | None
    signal: int | None
    cpu_ns: int
    #: the supervisor killed it at its CPU-time limit
    cpu_limit_hit: bool

    @property
    def shell_status(self) -> int:
        """The status a shell would report: the exit code, or 128 + the signal."""
        return 128 + self.signal if self.signal is not None else self.exit_code or 0


@dataclass(frozen=True)
class Supervised:
    """What one supervised run told: None where the sandbox died (or was killed) before the supervisor could say."""

    started: bool
    end: ProgramEnd | None
    #: the end's CPU time, else the last progress report's
    cpu_ns: int | None
    memory_at_start: int | None
    #: the cgroup's counters at the end, read while the sandbox still existed
    usage_at_end: SandboxUsage | None
    #: the cgroup's CPU time at ``ready``
    cpu_at_start_ns: int | None = None

    def status(self, runtime_status: int) -> int:
        """The program's exit status as a shell reports it; the runtime's when the supervisor could not say."""
        return self.end.shell_status if self.end is not None else runtime_status

    def usage(self, sampled: SandboxUsage) -> SandboxUsage:
        """The sandbox's counters (``sampled``: the last read before it died), with the program's own figures.

        The CPU time is the smaller of the supervisor's and the cgroup's since ``ready``; the peak memory is the
        cgroup's since ``ready`` (its peak was started over then) less gVisor's memory in use at that moment. A
        sandbox killed before its end keeps the last counters read before the kill.
        """
        counters = sampled if self.usage_at_end is None else merge_usage(self.usage_at_end, sampled)
        cpu = program_cpu_ns(self.cpu_ns, counters.cpu_ns, self.cpu_at_start_ns)
        return replace(counters, cpu_ns=cpu, peak_memory_bytes=self._peak_memory(counters.peak_memory_bytes))

    def _peak_memory(self, peak_bytes: int | None) -> int | None:
        if peak_bytes is None or self.memory_at_start is None:
            return None
        return max(0, peak_bytes - self.memory_at_start)


def program_cpu_ns(supervisor_ns: int | None, cgroup_ns: int | None, cgroup_at_start_ns: int | None) -> int | None:
    """The smaller of two upper bounds of the program's CPU time (see the module's docstring); either alone."""
    if cgroup_ns is None or cgroup_at_start_ns is None:
        return supervisor_ns
    since_start = max(0, cgroup_ns - cgroup_at_start_ns)
    return since_start if supervisor_ns is None else min(supervisor_ns, since_start)


class SocketChannel:
    """The OCI backend's channel: the supervisor's stdin is one end of a socket pair, given to the runtime."""

    def __init__(self) -> None:
        self._ours, self._theirs = socket.socketpair()

    def sandbox_end(self) -> int:
        return self._theirs.fileno()

    def runtime_started(self) -> None:
        """The runtime holds the sandbox's end now: ours must not keep it open, or hanging up would not end it."""
        self._theirs.close()

    def lines(self) -> Iterator[bytes]:
        with self._ours.makefile("rb") as lines:
            yield from lines

    def send(self, data: bytes) -> None:
        self._ours.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._ours.shutdown(socket.SHUT_RDWR)
        self._ours.close()
        self._theirs.close()


class ReportFileChannel:
    """The Docker backend's channel: the supervisor reads its stdin (the engine's attach socket, ``stdin``) and
    writes its lines to ``report``, a file only its uid may write, which we poll."""

    def __init__(self, report: Path, stdin: socket.socket) -> None:
        self.report, self._stdin = report, stdin
        self._closed = threading.Event()

    def lines(self) -> Iterator[bytes]:
        pending = b""
        with self.report.open("rb") as report:
            while True:
                closed = self._closed.is_set()  # then one last read: what the supervisor wrote before it ended
                pending += report.read()
                *complete, pending = pending.split(b"\n")
                yield from (line + b"\n" for line in complete)
                if closed:
                    return
                self._closed.wait(_POLL_S)

    def send(self, data: bytes) -> None:
        self._stdin.sendall(data)

    def close(self) -> None:
        """Hang up: the engine closes the supervisor's stdin."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._stdin.shutdown(socket.SHUT_WR)
        self._stdin.close()


class Channel(Protocol):
    """Lines from the supervisor, bytes to it, and hanging up."""

    def lines(self) -> Iterator[bytes]: ...

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SupervisorLink:
    """Serves the supervisor's side of a run from :meth:`start` until its end, in a thread of its own."""

    def __init__(self, places: CgroupPlaces, channel: Channel) -> None:
        self.places, self.channel = places, channel
        self._started = False
        self._end: ProgramEnd | None = None
        self._cpu_ns: int | None = None
        self._memory_at_start: int | None = None
        self._cpu_at_start: int | None = None
        self._usage_at_end: SandboxUsage | None = None
        #: set once the supervisor was told "go": from then on a live run's messages may follow on the channel
        self.program_started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sandbox-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout_s: float) -> Supervised:
        """What the supervisor told; call it once the sandbox is gone (its supervisor with it)."""
        self.channel.close()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return Supervised(
            self._started, self._end, self._cpu_ns, self._memory_at_start, self._usage_at_end, self._cpu_at_start
        )

    def cpu_used_ns(self) -> int | None:
        """The program's CPU time so far, as the result will say it (None before the program started)."""
        if self._cpu_ns is None:
            return None
        return program_cpu_ns(self._cpu_ns, cpu_time_ns_at(self.places), self._cpu_at_start)

    def _serve(self) -> None:
        try:
            for line in self.channel.lines():
                if not self._take(line[:_LINE_BYTES].decode("ascii", errors="replace").strip()):
                    return
        except (OSError, ValueError) as exc:  # hung up, or closed under us by finish()
            logger.debug("supervisor link: %s", exc)
        finally:
            self.channel.close()

    def _take(self, line: str) -> bool:
        """Act on one line; False after the end."""
        if line == "ready":
            reset_peak_memory_at(self.places)
            self._memory_at_start = memory_in_use(self.places)
            self._cpu_at_start = cpu_time_ns_at(self.places)
            self.channel.send(b"go\n")
            self._started = True
            self.program_started.set()
        elif (progress := progress_ns(line)) is not None:
            self._cpu_ns = progress
        elif (end := program_end(line)) is not None:
            self._usage_at_end = read_usage_at(self.places)
            self._end = end
            self._cpu_ns = end.cpu_ns
            return False
        else:
            logger.warning("the sandbox's supervisor said something unexpected: %r", line[:80])
        return True


class SupervisorStdin:
    """A live run's input as the supervisor's messages: ``in N`` and N bytes, ``eof``, ``signal N`` (after "go")."""

    def __init__(self, link: SupervisorLink) -> None:
        self.link = link
        self._sending = threading.Lock()  # input and signals come from two threads: one message at a time

    def write(self, data: bytes) -> None:
        self._send(b"in %d\n" % len(data) + data)

    def end(self) -> None:
        self._send(b"eof\n")

    def signal(self, number: int) -> None:
        self._send(b"signal %d\n" % number)

    def _send(self, message: bytes) -> None:
        if not self.link.program_started.wait(_START_WAIT_S):
            raise OSError("the program did not start")
        with self._sending:
            self.link.channel.send(message)


def progress_ns(line: str) -> int | None:
    """The CPU time a ``cpu_us=N`` line tells; None for another line."""
    found = _PROGRESS.fullmatch(line)
    return None if found is None else int(found[1]) * 1000


def program_end(line: str) -> ProgramEnd | None:
    """The program's end an ``end …`` line tells; None for another line."""
    found = _END.fullmatch(line)
    if found is None:
        return None
    how, number, cpu_us, over = found.groups()
    return ProgramEnd(
        exit_code=int(number) if how == "exit" else None,
        signal=int(number) if how == "signal" else None,
        cpu_ns=int(cpu_us) * 1000,
        cpu_limit_hit=over == "1",
    )

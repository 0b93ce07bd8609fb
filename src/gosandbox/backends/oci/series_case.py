"""One case of a series (series.py): its output up to its mark, what its supervisor said, its figures, and how it
is stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gosandbox.backends.cgroups import CgroupPlaces, SandboxUsage, memory_in_use, read_usage_at, reset_peak_memory_at
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import ProgramEnd, program_cpu_ns, program_end, progress_ns
from gosandbox.backends.watch import STUCK_STREAM_S, SandboxKiller

_STREAMS = ("stdout", "stderr")


@dataclass
class CaseOutput:
    """A case's stdout and stderr, each read up to the case's mark: runc copies the sandbox's output through pipes
    of its own, so what the case wrote may come after the supervisor said it ended; the supervisor writes the
    mark (a secret of this case, which the program never sees) on both after the case's last process died."""

    output: BoundedOutput
    mark: bytes
    marked: set[str] = field(default_factory=set)
    #: what the supervisor said of the case: when its first process ended (its wall time ends there), its CPU
    #: time so far, its end (and when that was read), and whether the series ends after it
    exited: float | None = None
    progress_ns: int | None = None
    end: ProgramEnd | None = None
    end_read: float = 0.0
    last: bool = False
    _held: dict[str, bytes] = field(default_factory=lambda: dict.fromkeys(_STREAMS, b""))

    @property
    def complete(self) -> bool:
        return self.marked == set(_STREAMS)

    def hear(self, line: str) -> None:
        """One line of the supervisor's (series.go)."""
        if line == "exited":
            self.exited = time.monotonic()
        elif line == "over":
            self.last = True
        elif (progress := progress_ns(line)) is not None:
            self.progress_ns = progress
        elif self.end is None and (end := program_end(line)) is not None:
            self.end, self.end_read = end, time.monotonic()

    def take(self, stream: str, data: bytes) -> None:
        """``data`` read from ``stream``; the last bytes are held back until it is known they are not the mark's."""
        if stream in self.marked:
            return  # nothing of this case comes after its mark
        data = self._held[stream] + data
        at = data.find(self.mark)
        if at >= 0:
            self._feed(stream, data[:at])
            self._held[stream] = b""
            self.marked.add(stream)
            return
        keep = min(len(data), len(self.mark) - 1)
        self._feed(stream, data[: len(data) - keep])
        self._held[stream] = data[len(data) - keep :]

    def flush(self) -> None:
        """The sandbox ended before the marks: what was held back is the case's."""
        for stream in _STREAMS:
            self._feed(stream, self._held[stream])
            self._held[stream] = b""

    def _feed(self, stream: str, data: bytes) -> None:
        if data and not self.output.exceeded:  # past the cap the rest is read and dropped
            self.output.feed([(data, None) if stream == "stdout" else (None, data)])


@dataclass(frozen=True)
class CaseStart:
    """The sandbox's counters as a case starts (its memory peak started over then)."""

    cpu_ns: int | None
    memory_bytes: int | None
    oom_kills: int
    forks_refused: int

    @classmethod
    def now(cls, places: CgroupPlaces) -> CaseStart:
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


class CaseStopper(SandboxKiller):
    """Ends one case: ``stop`` (the supervisor's ``stop N``), then ``kill_sandbox`` should the case not have ended
    within :data:`STUCK_STREAM_S` (``kill_sandbox`` checks that it is still this case that runs)."""

    def __init__(self, stop: Callable[[], None], kill_sandbox: Callable[[], None], ended: threading.Event) -> None:
        super().__init__()
        self._stop, self._kill_sandbox, self.ended = stop, kill_sandbox, ended

    def _kill(self) -> None:
        self._stop()
        if not self.ended.wait(STUCK_STREAM_S):
            self._kill_sandbox()

"""The backend's side of a gVisor sandbox's supervisor: its lines, the figures made of them, and the verdict at a
CPU-time limit. The supervisor itself (images/supervise.go) runs in tests/sandbox/test_accounting.py and
tests/sandbox/test_cpu_limit.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gosandbox.backends.base import ExecOutcome
from gosandbox.backends.cgroups import CgroupPlaces, SandboxUsage
from gosandbox.backends.supervisor import (
    ProgramEnd,
    ReportFileChannel,
    Supervised,
    SupervisorLink,
    supervisor_args,
)
from gosandbox.limits import Limits
from gosandbox.models import Status
from gosandbox.policy import INIT_UID, PROGRAM_UID
from gosandbox.verdict import classify, explain

MIB = 1024 * 1024
NOWHERE = CgroupPlaces((), ())  # no cgroup: every counter reads as None
SAMPLED = SandboxUsage(cpu_ns=900_000_000, peak_memory_bytes=60 * MIB, oom_kills=0, forks_refused=0)


def _outcome(**facts: object) -> ExecOutcome:
    values: dict[str, object] = {"exit_code": 137, "signal": 9, "stdout": b"", "stderr": b"", "duration_s": 1.0}
    return ExecOutcome(**{**values, **facts})  # type: ignore[arg-type]


def test_the_supervisor_starts_the_program_as_its_uid_with_its_limit() -> None:
    args = supervisor_args(("-n", "3"), 2000)
    assert args[1:] == ["supervise", str(PROGRAM_UID), "2000", "-", "/sandbox/stdin", "/sandbox/prog", "-n", "3"]
    assert supervisor_args((), None)[3] == "0"  # no CPU-time limit
    assert supervisor_args((), None, docker=True)[2:6] == [f"--as={INIT_UID}", str(PROGRAM_UID), "0", "/sandbox/report"]


@pytest.mark.parametrize(
    ("end", "status"),
    [
        (ProgramEnd(exit_code=3, signal=None, cpu_ns=0, cpu_limit_hit=False), 3),
        (ProgramEnd(exit_code=None, signal=9, cpu_ns=0, cpu_limit_hit=True), 137),
        (None, 137),  # the sandbox died before its supervisor could say: the runtime's status stands
    ],
)
def test_the_status_is_the_supervisors_word_when_it_could_say(end: ProgramEnd | None, status: int) -> None:
    assert Supervised(True, end, None, None, None).status(137) == status


def test_the_peak_is_the_sandboxs_since_ready_less_gvisors_memory_then() -> None:
    end = ProgramEnd(exit_code=0, signal=None, cpu_ns=500_000_000, cpu_limit_hit=False)
    at_end = SandboxUsage(cpu_ns=2_000_000_000, peak_memory_bytes=57 * MIB, oom_kills=0, forks_refused=0)
    usage = Supervised(True, end, end.cpu_ns, 14 * MIB, at_end).usage(SAMPLED)
    assert (usage.cpu_ns, usage.peak_memory_bytes) == (500_000_000, 43 * MIB)  # never the cgroup's CPU time


@pytest.mark.parametrize(
    ("supervisor_ms", "cgroup_ms", "program_ms"),
    [
        (230, 25, 25),  # a busy host: gVisor counted the ticks a task waited for a CPU
        (30, 150, 30),  # a sleeper: the cgroup counted gVisor's own timers
        (500, 480, 480),
        (40, None, 40),  # no cgroup to read: the supervisor's alone
    ],
)
def test_the_cpu_time_is_the_smaller_of_the_supervisors_and_the_cgroups(
    supervisor_ms: int, cgroup_ms: int | None, program_ms: int
) -> None:
    at_end = SandboxUsage(cpu_ns=None if cgroup_ms is None else (900 + cgroup_ms) * 1_000_000, peak_memory_bytes=None,
                          oom_kills=0, forks_refused=0)  # fmt: skip
    told = Supervised(True, None, supervisor_ms * 1_000_000, None, at_end, cpu_at_start_ns=900_000_000)
    assert told.usage(replace(SAMPLED, cpu_ns=None)).cpu_ns == program_ms * 1_000_000


def test_a_killed_sandbox_keeps_the_last_progress_and_the_last_reading() -> None:
    usage = Supervised(True, None, 300_000_000, 14 * MIB, None).usage(SAMPLED)
    assert (usage.cpu_ns, usage.peak_memory_bytes) == (300_000_000, 46 * MIB)


def test_without_a_reading_at_ready_there_is_no_peak() -> None:
    assert Supervised(False, None, None, None, None).usage(SAMPLED).peak_memory_bytes is None


class _Pair:
    """A channel over a socket pair; the test plays the supervisor on the other end."""

    def __init__(self) -> None:
        self.ours, self.supervisor = socket.socketpair()

    def lines(self) -> Iterator[bytes]:
        with self.ours.makefile("rb") as lines:
            yield from lines

    def send(self, data: bytes) -> None:
        self.ours.sendall(data)

    def close(self) -> None:
        self.ours.close()


def test_the_link_answers_ready_and_reads_progress_and_end() -> None:
    pair = _Pair()
    link = SupervisorLink(NOWHERE, pair)
    link.start()
    with pair.supervisor.makefile("rwb", buffering=0) as supervisor:
        supervisor.write(b"ready\n")
        assert supervisor.readline() == b"go\n"
        supervisor.write(b"cpu_us=120000\nend signal=9 cpu_us=200000 cpu_limit=1\n")
        assert supervisor.read() == b""  # hung up after the end: the supervisor may exit
    told = link.finish(5.0)
    assert told.started
    assert told.end == ProgramEnd(exit_code=None, signal=9, cpu_ns=200_000_000, cpu_limit_hit=True)
    assert told.cpu_ns == 200_000_000


def test_a_sandbox_that_dies_leaves_the_last_progress() -> None:
    pair = _Pair()
    link = SupervisorLink(NOWHERE, pair)
    link.start()
    pair.supervisor.sendall(b"ready\ncpu_us=70000\ngarbage that is logged\n")
    pair.supervisor.recv(3)
    pair.supervisor.close()
    told = link.finish(5.0)
    assert (told.started, told.end, told.cpu_ns) == (True, None, 70_000_000)


def test_the_report_file_channel_reads_what_was_written_before_the_end(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.write_bytes(b"")
    ours, engine = socket.socketpair()
    link = SupervisorLink(NOWHERE, ReportFileChannel(report, ours))
    link.start()
    report.write_bytes(b"ready\n")
    assert engine.recv(3) == b"go\n"
    with report.open("ab") as file:
        file.write(b"end exit=0 cpu_us=20000 cpu_limit=0\n")
    engine.settimeout(5.0)
    assert engine.recv(1) == b""  # hung up: the engine closes the supervisor's stdin
    told = link.finish(5.0)
    assert told.end == ProgramEnd(exit_code=0, signal=None, cpu_ns=20_000_000, cpu_limit_hit=False)


def test_a_cpu_limit_is_a_timeout_that_says_cpu_time() -> None:
    outcome = _outcome(cpu_limit_hit=True, cpu_time_ms=2004)
    assert classify(outcome) is Status.TIMEOUT
    assert explain(Status.TIMEOUT, Limits(cpu_ms=2000), outcome) == "used 2000 ms of CPU time, the limit"
    assert explain(Status.TIMEOUT, Limits(wall_s=5), _outcome(timed_out=True)) == "killed after 5 s of wall time"

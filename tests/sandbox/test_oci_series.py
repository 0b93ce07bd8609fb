"""One program on many cases in one sandbox (backends/oci/series.py), on the real runtime and run image: each case
sees what a sandbox of its own would show, finds nothing an earlier case left, gets its own limits, verdict and
figures, and the sandboxes go when the series ends. Under runc; runsc's cases start a sandbox each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from gosandbox.backends.base import ExecJob, ExecOutcome, execute_each
from gosandbox.backends.oci import series as series_module
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.limits import Limits
from gosandbox.models import Status
from gosandbox.verdict import classify
from support import oci_programs as programs
from support.oci_helpers import binary_of, processes_of, sandboxes_after_removal

#: Series are runc's (runsc's Sentry keeps a case's freed memory for the next: the cgroup could not tell it).
RUNC = pytest.mark.parametrize("oci_backend", ["runc"], indirect=True)

#: One program, many behaviours (its first argument), so that a series can mix them.
MODES = """package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "echo":
		in, _ := io.ReadAll(os.Stdin)
		wd, _ := os.Getwd()
		fmt.Printf("args=%q stdin=%q uid=%d wd=%s\\n", os.Args[2:], in, os.Getuid(), wd)
	case "leave":
		_ = os.WriteFile("/tmp/note", []byte("x"), 0o600)
		_ = os.WriteFile("/dev/shm/note", []byte("x"), 0o600)
		_ = os.Mkdir("/tmp/locked", 0o700)
		_ = os.WriteFile("/tmp/locked/in", []byte("x"), 0o600)
		_ = os.Chmod("/tmp/locked", 0)
		id, _, errno := syscall.Syscall(syscall.SYS_SHMGET, 0, 4096, 0o1600)
		child := exec.Command(os.Args[0], "linger")
		_ = child.Start()
		fmt.Printf("shm=%d errno=%d child=%v\\n", int(id), errno, child.Process != nil)
	case "linger":
		time.Sleep(time.Hour)
	case "look":
		flags, _, _ := syscall.Syscall(syscall.SYS_FCNTL, 1, syscall.F_GETFL, 0)
		fmt.Printf("tmp=%v shm=%v sysv=%d others=%v nonblock=%v\\n", names("/tmp"), names("/dev/shm"), sysv(), others(),
			flags&syscall.O_NONBLOCK != 0)
	case "deep": // a tree whose paths are longer than PATH_MAX, then the stdout made non-blocking
		name := strings.Repeat("d", 200)
		depth := 0
		for ; depth < 40 && os.Mkdir(name, 0o700) == nil && os.Chdir(name) == nil; depth++ {
		}
		_ = os.WriteFile("leaf", []byte("x"), 0o600)
		_ = syscall.SetNonblock(1, true)
		fmt.Printf("depth=%d\\n", depth)
	case "burst": // much output, and an exit at once: its tail is still on its way when the program has ended
		_, _ = os.Stdout.Write([]byte(strings.Repeat("b", 1<<20)))
		_, _ = os.Stderr.Write([]byte(strings.Repeat("e", 100000)))
	case "signal":
		fmt.Printf("kill=%v term=%v\\n", syscall.Kill(1, syscall.SIGKILL), syscall.Kill(1, syscall.SIGTERM))
	case "spin":
		for {
		}
	case "flood":
		line := []byte(strings.Repeat("f", 1023) + "\\n")
		for {
			_, _ = os.Stdout.Write(line)
		}
	}
}

func names(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var found []string
	for _, entry := range entries {
		found = append(found, entry.Name())
	}
	return found
}

func sysv() int {
	data, _ := os.ReadFile("/proc/sysvipc/shm")
	return len(strings.Split(strings.TrimSpace(string(data)), "\\n")) - 1
}

// others: the processes but ours and PID 1 (the supervisor).
func others() []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, entry := range entries {
		name := entry.Name()
		if name[0] >= '0' && name[0] <= '9' && name != "1" && name != fmt.Sprint(os.Getpid()) {
			found = append(found, name)
		}
	}
	return found
}
"""


def series(backend: OciBackend, cases: list[tuple[str, ...] | tuple[tuple[str, ...], bytes]], limits: Limits,
           source: str = MODES) -> list[ExecOutcome]:  # fmt: skip
    """Run ``source`` once per case (its arguments, or its arguments and stdin) as one series."""
    binary = binary_of(backend, source)
    jobs = []
    for case in cases:
        args, stdin = (case[0], case[1]) if len(case) == 2 and isinstance(case[1], bytes) else (case, b"")
        assert isinstance(args, tuple)
        assert isinstance(stdin, bytes)
        jobs.append(ExecJob(binary, stdin, tuple(str(a) for a in args), limits))
    return list(backend.execute_series(jobs))


@pytest.fixture
def started(oci_backend: OciBackend, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The series sandboxes the test started (each one's first case's arguments)."""
    seen: list[str] = []
    start = oci_backend._start_series

    def counting(job: ExecJob) -> series_module.SeriesSandbox:
        seen.append(" ".join(job.args))
        return start(job)

    monkeypatch.setattr(oci_backend, "_start_series", counting)
    yield seen
    assert sandboxes_after_removal(oci_backend) == []
    assert processes_of(oci_backend) == []


@RUNC
def test_every_case_gets_its_own_input_and_arguments_in_one_sandbox(
    oci_backend: OciBackend, started: list[str]
) -> None:
    cases: list[tuple[str, ...] | tuple[tuple[str, ...], bytes]] = [
        (("echo", "a"), b"first\n"), (("echo",), b""), (("echo", "c", "d"), b"x" * 20000),
    ]  # fmt: skip
    outcomes = series(oci_backend, cases, Limits())
    assert [classify(o) for o in outcomes] == [Status.OK] * 3
    wd = "/tmp"
    assert outcomes[0].stdout == f'args=["a"] stdin="first\\n" uid=10002 wd={wd}\n'.encode()
    assert outcomes[1].stdout == f'args=[] stdin="" uid=10002 wd={wd}\n'.encode()
    assert outcomes[2].stdout.startswith(b'args=["c" "d"] stdin="xxxx')
    assert len(started) == 1


@RUNC
def test_a_case_finds_nothing_an_earlier_case_left(oci_backend: OciBackend, started: list[str]) -> None:
    left, looked = series(oci_backend, [("leave",), ("look",)], Limits())
    assert re.fullmatch(rb"shm=\d+ errno=0 child=true\n", left.stdout), left.stdout
    assert looked.stdout == b"tmp=[] shm=[] sysv=0 others=[] nonblock=false\n", looked.stdout
    assert len(started) == 1


@RUNC
def test_a_deep_tree_and_a_non_blocking_stdout_are_gone_for_the_next_case(
    oci_backend: OciBackend, started: list[str]
) -> None:
    deep, looked = series(oci_backend, [("deep",), ("look",)], Limits())
    assert deep.stdout == b"depth=40\n"  # 40 x 201 bytes: past PATH_MAX, the cleaner must walk it by names
    assert looked.stdout == b"tmp=[] shm=[] sysv=0 others=[] nonblock=false\n", looked.stdout
    assert len(started) == 1


@RUNC
def test_every_byte_a_case_wrote_is_its_own_however_late_it_comes(oci_backend: OciBackend, started: list[str]) -> None:
    limits = Limits(output_bytes=1024 * 1024 + 100000)
    outcomes = series(oci_backend, [("burst",), ("echo", "next"), ("burst",), ("burst",)], limits)
    for burst in (outcomes[0], outcomes[2], outcomes[3]):
        assert classify(burst) is Status.OK, burst.stderr[-200:]
        assert burst.stdout == b"b" * (1 << 20)
        assert burst.stderr == b"e" * 100000
    assert outcomes[1].stdout.startswith(b'args=["next"]')
    assert outcomes[1].stderr == b""
    assert len(started) == 1


@RUNC
def test_the_program_cannot_signal_its_supervisor(oci_backend: OciBackend, started: list[str]) -> None:
    signalled, echoed = series(oci_backend, [("signal",), ("echo", "after")], Limits())
    assert signalled.stdout == b"kill=operation not permitted term=operation not permitted\n"
    assert classify(echoed) is Status.OK
    assert echoed.stdout.startswith(b'args=["after"]')
    assert len(started) == 1


@RUNC
def test_each_case_has_its_own_limits_and_the_series_goes_on(oci_backend: OciBackend, started: list[str]) -> None:
    limits = Limits(wall_s=1, output_bytes=64 * 1024)
    spun, flooded, echoed = series(oci_backend, [("spin",), ("flood",), ("echo", "last")], limits)
    assert (classify(spun), spun.signal, spun.timed_out) == (Status.TIMEOUT, 9, True)
    assert 1.0 <= spun.duration_s < 3.0
    assert classify(flooded) is Status.OUTPUT_LIMIT
    assert len(flooded.stdout) == 64 * 1024
    assert classify(echoed) is Status.OK
    assert echoed.stdout.startswith(b'args=["last"]'), echoed.stdout[:200]  # nothing of the flood
    assert len(started) == 1


@RUNC
def test_a_cpu_time_limit_and_the_memory_limit_end_only_their_case(oci_backend: OciBackend) -> None:
    spun, echoed = series(oci_backend, [("spin",), ("echo",)], Limits(wall_s=5, cpu_ms=300))
    assert classify(spun) is Status.TIMEOUT
    assert spun.cpu_limit_hit
    assert classify(echoed) is Status.OK
    bomb = binary_of(oci_backend, programs.MEMORY_BOMB)
    hello = binary_of(oci_backend, programs.HELLO)
    limits = Limits(memory_mb=64)
    hog = list(oci_backend.execute_series([ExecJob(bomb, b"", (), limits)] * 2))
    assert [classify(o) for o in hog] == [Status.MEMORY_LIMIT] * 2
    ok = list(oci_backend.execute_series([ExecJob(hello, b"", (), limits)] * 2))
    assert [o.stdout for o in ok] == [b"hello\n"] * 2


@RUNC
def test_each_case_reports_its_own_cpu_time_and_memory(oci_backend: OciBackend) -> None:
    busy = binary_of(oci_backend, programs.cpu_burner(500))
    touch = binary_of(oci_backend, programs.cpu_burner(10, touch_mib=40))
    hello = binary_of(oci_backend, programs.HELLO)
    limits = Limits(wall_s=10, memory_mb=256)
    # Three programs: three series of two cases each, the second case's figures as much its own as the first's.
    for binary, cpu_ms, memory_kib in ((busy, (400, 600), None), (touch, None, (40 * 1024, 64 * 1024)),
                                       (hello, (0, 50), (0, 8 * 1024))):  # fmt: skip
        for outcome in oci_backend.execute_series([ExecJob(binary, b"", (), limits)] * 2):
            assert classify(outcome) is Status.OK, outcome
            assert outcome.cpu_time_ms is not None
            assert outcome.peak_memory_kb is not None
            if cpu_ms is not None:
                assert cpu_ms[0] <= outcome.cpu_time_ms <= cpu_ms[1], outcome.cpu_time_ms
            if memory_kib is not None:
                assert memory_kib[0] <= outcome.peak_memory_kb <= memory_kib[1], outcome.peak_memory_kb


@RUNC
def test_a_long_series_takes_several_sandboxes(
    oci_backend: OciBackend, started: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_module, "SERIES_CASES", 2)
    outcomes = series(oci_backend, [("echo", str(n)) for n in range(5)], Limits())
    assert [o.stdout.split(b" ")[0] for o in outcomes] == [f'args=["{n}"]'.encode() for n in range(5)]
    assert started == ["echo 0", "echo 2", "echo 4"]


@RUNC
def test_a_series_left_early_ends_its_sandbox(oci_backend: OciBackend, started: list[str]) -> None:
    binary = binary_of(oci_backend, MODES)
    runs = oci_backend.execute_series([ExecJob(binary, b"", ("echo", str(n)), Limits()) for n in range(4)])
    assert next(runs).stdout.startswith(b'args=["0"]')
    runs.close()
    assert len(started) == 1  # the fixture checks that no sandbox and no process is left


@RUNC
def test_runs_of_different_programs_are_not_a_series(oci_backend: OciBackend, started: list[str]) -> None:
    hello = ExecJob(binary_of(oci_backend, programs.HELLO), b"", (), Limits())
    other = replace(hello, binary=binary_of(oci_backend, MODES), args=("echo",))
    outcomes = list(execute_each(oci_backend, [hello, other]))
    assert outcomes[0].stdout == b"hello\n"
    assert outcomes[1].stdout.startswith(b"args=[]")
    assert started == []


@pytest.mark.parametrize("oci_backend", ["runsc"], indirect=True)
def test_under_runsc_every_case_starts_its_own_sandbox(oci_backend: OciBackend, started: list[str]) -> None:
    signalled, echoed = series(oci_backend, [("echo", "one"), ("echo", "two")], Limits())
    assert signalled.stdout.startswith(b'args=["one"]')
    assert echoed.stdout.startswith(b'args=["two"]')
    assert started == []

"""explain(): one plain sentence per verdict, worded with the run's limits; and the wording of a non-main package."""

from __future__ import annotations

import signal

import pytest

from gosandbox.backends.base import ExecOutcome
from gosandbox.backends.streams import go_crash
from gosandbox.limits import Limits
from gosandbox.models import Status
from gosandbox.toolchain import not_a_main_package
from gosandbox.verdict import classify, explain

LIMITS = Limits(wall_s=5, memory_mb=64, pids=64, output_bytes=65536)


def facts(exit_code: int | None, sig: int | None = None, stderr: bytes = b"", **flags: bool) -> ExecOutcome:
    return ExecOutcome(exit_code=exit_code, signal=sig, stdout=b"", stderr=stderr, duration_s=0.1, **flags)


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (facts(0), None),
        (facts(137, signal.SIGKILL, timed_out=True), "killed after 5 s of wall time"),
        (facts(137, signal.SIGKILL, cancelled=True), "stopped: the run was cancelled"),
        (facts(137, signal.SIGKILL, oom_killed=True), "memory limit of 64 MiB reached"),
        (facts(2, stderr=b"fatal error: runtime: out of memory\n"), "memory limit of 64 MiB reached"),
        (facts(137, signal.SIGKILL, output_exceeded=True), "output passed 65536 bytes and the program was stopped"),
        (facts(3), "exited with code 3"),
        (facts(2, stderr=b"panic: boom\n\ngoroutine 1 [running]:\n"), "exited with code 2 after panic: boom"),
        (facts(139, signal.SIGSEGV), "killed by signal SIGSEGV"),
        (facts(137, signal.SIGKILL), "killed by signal SIGKILL"),
        (facts(None), "the program ended without an exit code"),
        (
            facts(2, stderr=b"fatal error: newosproc\n", pids_limit_hit=True),
            "the program tried to run more than 64 processes or threads",
        ),
        (
            facts(2, stderr=b"fatal error: newosproc\n", pids_limit_hit=True, output_exceeded=True),
            "the program tried to run more than 64 processes or threads; its output passed 65536 bytes and was cut",
        ),
        (
            facts(137, signal.SIGKILL, stderr=b"panic: boom\n", output_exceeded=True),
            "killed by signal SIGKILL; its output passed 65536 bytes and was cut",
        ),
    ],
)
def test_the_sentence_for_each_outcome(outcome: ExecOutcome, message: str | None) -> None:
    assert explain(classify(outcome), LIMITS, outcome) == message


def test_the_limits_wording_follows_the_run_s_own_limits() -> None:
    limits = Limits(wall_s=2.5, memory_mb=256, output_bytes=1000)
    assert explain(Status.TIMEOUT, limits, facts(None, timed_out=True)) == "killed after 2.5 s of wall time"
    assert explain(Status.MEMORY_LIMIT, limits, facts(None)) == "memory limit of 256 MiB reached"
    assert explain(Status.OUTPUT_LIMIT, limits, facts(None)) == "output passed 1000 bytes and the program was stopped"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("# sandbox\n./main.go:2:14: undefined: x\n", "the program did not compile: main.go:2:14: undefined: x"),
        (
            "./main.go:2:14: undefined: x\n./util.go:7:1: syntax error: unexpected }\n",
            "the program did not compile: 2 errors, the first at main.go:2:14: undefined: x",
        ),
        (
            "\ngosandbox: the build did not finish within 30.0 s and was stopped\n",
            "the program did not compile: gosandbox: the build did not finish within 30.0 s and was stopped",
        ),
        ("", "the program did not compile"),
    ],
)
def test_compile_errors_say_how_many_and_the_first(output: str, message: str) -> None:
    assert explain(Status.COMPILE_ERROR, LIMITS, compile_output=output) == message


@pytest.mark.parametrize(
    ("stderr", "header"),
    [
        (b"panic: boom\n\ngoroutine 1\n", "panic: boom"),
        (
            b"out\nfatal error: all goroutines are asleep - deadlock!\n",
            "fatal error: all goroutines are asleep - deadlock!",
        ),
        (b"SIGSEGV: segmentation violation\nPC=0x0\n", "SIGSEGV: segmentation violation"),
        (b"log: panic: not at a line start\n", None),
        (b"", None),
        (b"panic: " + b"x" * 500, "panic: " + "x" * 113),
    ],
)
def test_go_crash_finds_the_report_s_first_line(stderr: bytes, header: str | None) -> None:
    assert go_crash(stderr) == header


@pytest.mark.parametrize(
    ("files", "line"),
    [
        ({"main.go": "package foo\n\nfunc F() {}\n"}, "./main.go:1:9: package foo"),
        ({"main.go": "// Package lib does things.\npackage lib\n"}, "./main.go:2:9: package lib"),
        ({"a.go": "package a\n", "a_test.go": "package a_test\n"}, "./a.go:1:9: package a"),
        ({"z.go": "package zed\n", "main.go": "package  two\n"}, "./main.go:1:10: package two"),
        ({"go.mod": "module x\n"}, "the package"),
    ],
)
def test_a_non_main_package_is_named_at_its_package_clause(files: dict[str, str], line: str) -> None:
    assert not_a_main_package(files) == f"{line} is not a main package: a program to run needs package main"

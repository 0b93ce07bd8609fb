"""classify: the backend's raw facts to a Status; signal_name: numbers to names."""

from __future__ import annotations

import signal

import pytest

from gosandbox.backends.base import ExecOutcome
from gosandbox.models import Status
from gosandbox.verdict import classify, signal_name


def outcome(
    exit_code: int | None = 0,
    sig: int | None = None,
    *,
    stderr: bytes = b"",
    timed_out: bool = False,
    oom_killed: bool = False,
    output_exceeded: bool = False,
    cancelled: bool = False,
) -> ExecOutcome:
    return ExecOutcome(
        exit_code=exit_code,
        signal=sig,
        stdout=b"",
        stderr=stderr,
        duration_s=0.0,
        timed_out=timed_out,
        oom_killed=oom_killed,
        output_exceeded=output_exceeded,
        cancelled=cancelled,
    )


def test_ok() -> None:
    assert classify(outcome(0)) is Status.OK


@pytest.mark.parametrize(
    "facts",
    [
        outcome(1),
        outcome(2, stderr=b"panic: boom\n\ngoroutine 1 [running]:\n"),
        outcome(137, signal.SIGKILL),
        outcome(0, signal.SIGTERM),  # a signal makes it an error even with exit code 0
        outcome(None),
        outcome(-1),
    ],
)
def test_runtime_error(facts: ExecOutcome) -> None:
    assert classify(facts) is Status.RUNTIME_ERROR


def test_timeout() -> None:
    assert classify(outcome(137, signal.SIGKILL, timed_out=True)) is Status.TIMEOUT


def test_cancelled_counts_as_timeout() -> None:
    assert classify(outcome(None, cancelled=True)) is Status.TIMEOUT


def test_memory_limit_from_the_oom_killer() -> None:
    assert classify(outcome(137, signal.SIGKILL, oom_killed=True)) is Status.MEMORY_LIMIT


@pytest.mark.parametrize(
    "stderr",
    [
        b"fatal error: runtime: out of memory\n\nruntime stack:\n",
        b"runtime: out of memory: cannot allocate 16777216-byte block (117440512 in use)\nfatal error: out of memory\n",
        b"fatal error: out of memory allocating heap arena metadata\n",
    ],
)
def test_memory_limit_from_gos_own_message(stderr: bytes) -> None:
    assert classify(outcome(2, stderr=stderr)) is Status.MEMORY_LIMIT


def test_a_program_printing_out_of_memory_midline_is_no_memory_limit() -> None:
    assert classify(outcome(2, stderr=b"log: fatal error: out of memory (not really)\n")) is Status.RUNTIME_ERROR


def test_output_limit() -> None:
    assert classify(outcome(137, signal.SIGKILL, output_exceeded=True)) is Status.OUTPUT_LIMIT


def test_output_limit_wins_over_everything() -> None:
    facts = outcome(137, signal.SIGKILL, timed_out=True, oom_killed=True, output_exceeded=True, cancelled=True)
    assert classify(facts) is Status.OUTPUT_LIMIT


def test_timeout_wins_over_memory() -> None:
    assert classify(outcome(137, signal.SIGKILL, timed_out=True, oom_killed=True)) is Status.TIMEOUT


def test_enforced_limits_win_over_a_zero_exit() -> None:
    assert classify(outcome(0, timed_out=True)) is Status.TIMEOUT
    assert classify(outcome(0, oom_killed=True)) is Status.MEMORY_LIMIT


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (outcome(2, stderr=b"panic: flood\n", output_exceeded=True), Status.RUNTIME_ERROR),
        (outcome(0, output_exceeded=True), Status.OUTPUT_LIMIT),
        (outcome(1, output_exceeded=True), Status.OUTPUT_LIMIT),
        (outcome(134, signal.SIGABRT, stderr=b"SIGABRT: abort\n", output_exceeded=True), Status.RUNTIME_ERROR),
        (outcome(137, signal.SIGKILL, output_exceeded=True, timed_out=False, oom_killed=True), Status.OUTPUT_LIMIT),
        (outcome(None, output_exceeded=True, timed_out=True), Status.TIMEOUT),
    ],
)
def test_output_past_the_cap_is_output_limit_unless_a_crash_or_deadline_came_first(
    facts: ExecOutcome, status: Status
) -> None:
    assert classify(facts) is status


def test_every_status_is_reachable() -> None:
    reached = {
        classify(outcome(0)),
        classify(outcome(1)),
        classify(outcome(None, timed_out=True)),
        classify(outcome(None, oom_killed=True)),
        classify(outcome(137, signal.SIGKILL, output_exceeded=True)),
    }
    # COMPILE_ERROR is the runner's verdict, never classify's.
    assert reached == set(Status) - {Status.COMPILE_ERROR}


@pytest.mark.parametrize(
    ("number", "name"),
    [(None, None), (9, "SIGKILL"), (15, "SIGTERM"), (11, "SIGSEGV"), (6, "SIGABRT"), (24, "SIGXCPU"), (25, "SIGXFSZ")],
)
def test_signal_name(number: int | None, name: str | None) -> None:
    assert signal_name(number) == name


@pytest.mark.parametrize(("number", "name"), [(0, "SIG0"), (200, "SIG200"), (-3, "SIG-3")])
def test_unknown_signal_numbers_stay_readable(number: int, name: str) -> None:
    assert signal_name(number) == name


_CRASH_DUMP = (
    b"runtime: failed to create new OS thread (have 58 already; errno=11)\nfatal error: newosproc\n\nruntime stack:\n"
)


@pytest.mark.parametrize(
    ("stderr", "status"),
    [
        (_CRASH_DUMP, Status.RUNTIME_ERROR),
        (b"before\npanic: boom\n\ngoroutine 1 [running]:\n", Status.RUNTIME_ERROR),
        (b"SIGSEGV: segmentation violation\nPC=0x40c84e m=0\n", Status.RUNTIME_ERROR),
        (b"fatal error: runtime: out of memory\n\nruntime stack:\n", Status.MEMORY_LIMIT),
        (b"no crash here, just a flood\n", Status.OUTPUT_LIMIT),
        (b"a line that only mentions panic: midway\n", Status.OUTPUT_LIMIT),
    ],
)
def test_a_program_already_crashing_at_the_output_cap_keeps_the_crash_verdict(stderr: bytes, status: Status) -> None:
    assert classify(outcome(137, signal.SIGKILL, stderr=stderr, output_exceeded=True)) is status

"""Turn what a backend observed into the program's verdict, and say it in one plain sentence."""

from __future__ import annotations

import re
import signal as signals
from dataclasses import asdict

from gosandbox.backends.base import ExecOutcome
from gosandbox.backends.streams import go_crash
from gosandbox.diagnostics import parse_positions
from gosandbox.limits import Limits
from gosandbox.models import Status

# Go's own messages when an allocation fails below the cgroup limit (under RLIMIT_AS, or gVisor, whose kernel
# answers ENOMEM at the sandbox's limit): "fatal error: runtime: out of memory" when mapping the heap fails,
# "fatal error: out of memory" for a large object, "... out of memory allocating heap arena metadata".
_GO_OUT_OF_MEMORY = re.compile(rb"^fatal error: (?:runtime: )?out of memory", re.MULTILINE)
_GO_FATAL_EXIT = 2
_HEADER_CHARS = 120
#: What the sandbox did at each limit, worded with the limit's value.
_AT_THE_LIMIT = {
    Status.TIMEOUT: "killed after {wall_s:g} s of wall time",
    Status.MEMORY_LIMIT: "memory limit of {memory_mb} MiB reached",
    Status.OUTPUT_LIMIT: "output passed {output_bytes} bytes and the program was stopped",
}


def classify(outcome: ExecOutcome) -> Status:
    """Pick the status; limits the sandbox enforced win over the exit code they caused.

    Output past the cap is ``output_limit`` when the flood was the program's doing: a program
    that was already crashing (its stderr holds a Go crash report) keeps the crash's verdict
    whoever ended it, and ``truncated`` tells that the output was cut. Whether our kill or the
    program's own end came first does not matter (a flood that ends while the kill is on its way
    is still a flood); a time limit reached before the flood began wins.
    """
    if outcome.output_exceeded and outcome.signal == signals.SIGKILL:
        return _crash_status(outcome.stderr) or Status.OUTPUT_LIMIT
    if outcome.timed_out or outcome.cancelled or outcome.cpu_limit_hit:
        return Status.TIMEOUT
    if outcome.output_exceeded:
        return _crash_status(outcome.stderr) or Status.OUTPUT_LIMIT
    go_out_of_memory = outcome.exit_code == _GO_FATAL_EXIT and _GO_OUT_OF_MEMORY.search(outcome.stderr) is not None
    if outcome.oom_killed or go_out_of_memory:
        return Status.MEMORY_LIMIT
    if outcome.exit_code == 0 and outcome.signal is None:
        return Status.OK
    return Status.RUNTIME_ERROR


def _crash_status(stderr: bytes) -> Status | None:
    crash = go_crash(stderr)
    if crash is None:
        return None
    return Status.MEMORY_LIMIT if _GO_OUT_OF_MEMORY.match(crash.encode()) is not None else Status.RUNTIME_ERROR


def signal_name(number: int | None) -> str | None:
    """``9`` -> ``"SIGKILL"``; unknown numbers keep a readable form."""
    if number is None:
        return None
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def explain(status: Status, limits: Limits, outcome: ExecOutcome | None = None, compile_output: str = "") -> str | None:
    """The one sentence a person would say about a verdict that is not ``ok``; None for ``ok``.

    >>> explain(Status.TIMEOUT, Limits(wall_s=5))
    'killed after 5 s of wall time'
    """
    if status is Status.OK:
        return None
    if status is Status.COMPILE_ERROR or outcome is None:
        return _did_not_compile(compile_output)
    if outcome.cancelled:
        return "stopped: the run was cancelled"
    if outcome.cpu_limit_hit:
        return f"used {limits.cpu_ms if limits.cpu_ms is not None else outcome.cpu_time_ms} ms of CPU time, the limit"
    sentence = _AT_THE_LIMIT.get(status)
    if sentence is not None:
        return sentence.format(**asdict(limits))
    cut = f"; its output passed {limits.output_bytes} bytes and was cut" if outcome.output_exceeded else ""
    return _runtime_error(outcome, limits) + cut


def _runtime_error(outcome: ExecOutcome, limits: Limits) -> str:
    if outcome.pids_limit_hit:
        return f"the program tried to run more than {limits.pids} processes or threads"
    if outcome.signal is not None:
        return f"killed by signal {signal_name(outcome.signal)}"
    if outcome.exit_code is None:
        return "the program ended without an exit code"
    crash = go_crash(outcome.stderr)
    after = f" after {crash}" if crash else ""
    return f"exited with code {outcome.exit_code}{after}"


def _did_not_compile(output: str) -> str:
    errors = parse_positions(output)
    if not errors:
        first = next((line.strip() for line in output.splitlines() if line.strip()), "")
        return f"the program did not compile: {first[:_HEADER_CHARS]}" if first else "the program did not compile"
    error = errors[0]
    where = f"{error.file}:{error.line}" + (f":{error.column}" if error.column else "")
    what = f"{where}: {error.message[:_HEADER_CHARS]}"
    if len(errors) == 1:
        return f"the program did not compile: {what}"
    return f"the program did not compile: {len(errors)} errors, the first at {what}"

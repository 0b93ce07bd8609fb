"""Judge0's fourteen statuses, and which one each of our verdicts is.

Judge0 (isolate underneath) decides a run's status from how it ended: killed for time (5), killed by
a signal (7-10 by signal, 12 for any other), a non-zero exit (11), else its output against
``expected_output`` (3 or 4). Ours map onto those as follows; the two without a twin are said here:

- ``memory_limit`` → 12 *Runtime Error (Other)*: Judge0 limits memory with a cgroup, whose OOM
  killer ends the program with SIGKILL, a signal that has no status of its own.
- ``output_limit`` → 8 *Runtime Error (SIGXFSZ)*: Judge0's stdout is a file under isolate's
  ``max_file_size``, so a program writing past it gets SIGXFSZ; ours is stopped at the output cap.
  ``exit_signal`` stays the signal that really ended it (our SIGKILL), ``message`` says why.
- a job the service could not finish (state ``failed``), or one cancelled by DELETE → 13
  *Internal Error*, with the reason in ``message``.
"""

from __future__ import annotations

import signal
from typing import Any

from gosandbox.jobs.submission import State, Submission

IN_QUEUE, PROCESSING, ACCEPTED, WRONG_ANSWER, TIME_LIMIT_EXCEEDED, COMPILATION_ERROR = 1, 2, 3, 4, 5, 6
SIGSEGV, SIGXFSZ, SIGFPE, SIGABRT, NZEC, OTHER, INTERNAL_ERROR, EXEC_FORMAT_ERROR = 7, 8, 9, 10, 11, 12, 13, 14

#: ``GET /statuses``, in Judge0's words.
STATUSES: dict[int, str] = {
    IN_QUEUE: "In Queue",
    PROCESSING: "Processing",
    ACCEPTED: "Accepted",
    WRONG_ANSWER: "Wrong Answer",
    TIME_LIMIT_EXCEEDED: "Time Limit Exceeded",
    COMPILATION_ERROR: "Compilation Error",
    SIGSEGV: "Runtime Error (SIGSEGV)",
    SIGXFSZ: "Runtime Error (SIGXFSZ)",
    SIGFPE: "Runtime Error (SIGFPE)",
    SIGABRT: "Runtime Error (SIGABRT)",
    NZEC: "Runtime Error (NZEC)",
    OTHER: "Runtime Error (Other)",
    INTERNAL_ERROR: "Internal Error",
    EXEC_FORMAT_ERROR: "Exec Format Error",
}

_BY_SIGNAL = {"SIGSEGV": SIGSEGV, "SIGXFSZ": SIGXFSZ, "SIGFPE": SIGFPE, "SIGABRT": SIGABRT}
_BY_VERDICT = {"compile_error": COMPILATION_ERROR, "timeout": TIME_LIMIT_EXCEEDED, "memory_limit": OTHER,
               "output_limit": SIGXFSZ}  # fmt: skip
_WAITING = {State.QUEUED: IN_QUEUE, State.RUNNING: PROCESSING}


def status_document(status_id: int) -> dict[str, Any]:
    return {"id": status_id, "description": STATUSES[status_id]}


#: Ruby's ``rstrip``: ASCII whitespace and NUL, and the Control Pictures our output shows the controls as.
_RSTRIPPED = " \t\n\v\f\r\0"


def judge0_strip(text: str | None) -> str | None:
    """What Judge0 compares: each line without trailing whitespace, then the whole without it.

    Ruby's ``rstrip`` (ASCII whitespace and NUL), not Python's (every Unicode space). An empty
    stdout is ``nil`` in Judge0, so it equals no ``expected_output`` but an empty one.
    """
    if text is None:
        return None
    return "\n".join(line.rstrip(_RSTRIPPED) for line in text.split("\n")).rstrip(_RSTRIPPED)


def output_matches(expected: str | None, stdout: str | None) -> bool:
    """Accepted or not: no ``expected_output`` accepts anything; else both stripped must be equal (the expected
    output's control characters read as the program's output shows them: :mod:`gosandbox.jobs.outputs`)."""
    return expected is None or judge0_strip(expected) == judge0_strip(stdout)


def run_status(result: dict[str, Any], expected: str | None, stdout: str | None) -> int:
    """The status of a finished run from its result (``stdout`` as Judge0 shows it: None when empty)."""
    verdict = result.get("status")
    if verdict in _BY_VERDICT:
        return _BY_VERDICT[verdict]
    if verdict == "runtime_error":
        name = result.get("signal")
        return NZEC if name is None else _BY_SIGNAL.get(name, OTHER)
    return ACCEPTED if output_matches(expected, stdout) else WRONG_ANSWER


def submission_status(submission: Submission, expected: str | None, stdout: str | None) -> int:
    if submission.state in _WAITING:
        return _WAITING[submission.state]
    if submission.state is not State.DONE or submission.result is None:
        return INTERNAL_ERROR
    return run_status(submission.result, expected, stdout)


def signal_number(name: str | None) -> int | None:
    """``"SIGKILL"`` → 9, as Judge0's ``exit_signal``; a name we cannot read gives None."""
    if name is None:
        return None
    try:
        return int(signal.Signals[name])
    except KeyError:
        digits = name.removeprefix("SIG")
        return int(digits) if digits.isdigit() else None

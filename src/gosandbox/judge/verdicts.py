"""A case's verdict from its run (and its answer's comparison, or its checker), and the submission's from its cases.

A case is ``accepted`` when its program ended ``ok`` and its output matches the expected one (or its checker
says so); a limit the sandbox enforced is that limit's verdict whatever the output. Kattis's output-validator
convention decides a checker's word: exit 42 accepts, 43 rejects, anything else is the checker's failure
(``checker_error``), never the contestant's. The submission's verdict is its first failing case's, in order
(DOMjudge's and Kattis's rule); cases not run after a failure (lazy judging) are ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gosandbox.judge.compare import Comparison, Difference, first_difference
from gosandbox.models import Status

#: Kattis's output-validator exit codes.
CHECKER_ACCEPTS = 42
CHECKER_REJECTS = 43


class Verdict(StrEnum):
    """The verdict on one case, or on the whole submission."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    COMPILE_ERROR = "compile_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    RUNTIME_ERROR = "runtime_error"
    OUTPUT_LIMIT = "output_limit"
    CHECKER_ERROR = "checker_error"
    SKIPPED = "skipped"


#: What a run's own status is as a case's verdict, before its output is looked at.
_FROM_RUN = {
    Status.COMPILE_ERROR: Verdict.COMPILE_ERROR,
    Status.TIMEOUT: Verdict.TIMEOUT,
    Status.MEMORY_LIMIT: Verdict.MEMORY_LIMIT,
    Status.RUNTIME_ERROR: Verdict.RUNTIME_ERROR,
    Status.OUTPUT_LIMIT: Verdict.OUTPUT_LIMIT,
}


@dataclass(frozen=True)
class CaseVerdict:
    """One case's verdict and why: the first difference, or what the checker said."""

    verdict: Verdict
    difference: Difference | None = None
    feedback: str | None = None


def judge_output(status: Status, expected: str | None, got: str, comparison: Comparison) -> CaseVerdict:
    """A case judged by comparison: the run's limit verdicts first, then its output against ``expected``.

    >>> judge_output(Status.OK, "4\\n", "5\\n", Comparison()).verdict
    <Verdict.WRONG_ANSWER: 'wrong_answer'>
    >>> judge_output(Status.TIMEOUT, "4\\n", "4\\n", Comparison()).verdict
    <Verdict.TIMEOUT: 'timeout'>
    """
    if status is not Status.OK:
        return CaseVerdict(_FROM_RUN[status])
    if expected is None:  # nothing to compare with: running to the end is all that is asked
        return CaseVerdict(Verdict.ACCEPTED)
    difference = first_difference(expected, got, comparison)
    if difference is None:
        return CaseVerdict(Verdict.ACCEPTED)
    return CaseVerdict(Verdict.WRONG_ANSWER, difference, difference.sentence())


def judge_by_checker(status: Status, checker_status: Status, checker_exit: int | None, message: str) -> CaseVerdict:
    """A case judged by a checker that ran on its output (Kattis's convention; see the module's docstring).

    ``message``: the checker's feedback (its judgemessage.txt, else its output), kept as it is.

    >>> judge_by_checker(Status.OK, Status.RUNTIME_ERROR, 43, "expected 4").verdict
    <Verdict.WRONG_ANSWER: 'wrong_answer'>
    >>> judge_by_checker(Status.OK, Status.TIMEOUT, None, "").verdict
    <Verdict.CHECKER_ERROR: 'checker_error'>
    """
    if status is not Status.OK:
        return CaseVerdict(_FROM_RUN[status])
    feedback = message or None
    if checker_status in (Status.OK, Status.RUNTIME_ERROR) and checker_exit == CHECKER_ACCEPTS:
        return CaseVerdict(Verdict.ACCEPTED, feedback=feedback)
    if checker_status is Status.RUNTIME_ERROR and checker_exit == CHECKER_REJECTS:
        return CaseVerdict(Verdict.WRONG_ANSWER, feedback=feedback)
    why = f"the checker ended {checker_status}" + (
        f" with exit code {checker_exit}" if checker_exit is not None else ""
    )
    return CaseVerdict(Verdict.CHECKER_ERROR, feedback=f"{why}: {message}" if message else why)


def overall(verdicts: Sequence[Verdict]) -> Verdict:
    """The submission's verdict: its first case that is neither accepted nor skipped, else accepted.

    >>> overall([Verdict.ACCEPTED, Verdict.TIMEOUT, Verdict.WRONG_ANSWER])
    <Verdict.TIMEOUT: 'timeout'>
    """
    return next((v for v in verdicts if v not in (Verdict.ACCEPTED, Verdict.SKIPPED)), Verdict.ACCEPTED)


def lazily(verdicts: Sequence[Verdict], stop_on_first_failure: bool) -> list[Verdict]:
    """Which cases to report as run: after the first failure, with lazy judging, the rest are ``skipped``.

    >>> lazily([Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.ACCEPTED], True)
    [<Verdict.ACCEPTED: 'accepted'>, <Verdict.WRONG_ANSWER: 'wrong_answer'>, <Verdict.SKIPPED: 'skipped'>]
    """
    shown: list[Verdict] = []
    for verdict in verdicts:
        failed = any(v not in (Verdict.ACCEPTED, Verdict.SKIPPED) for v in shown)
        shown.append(Verdict.SKIPPED if stop_on_first_failure and failed else verdict)
    return shown

"""One case: run the built program on its input in a fresh sandbox, then judge its output (by comparison, or
by the checker run sandboxed on it in the Kattis output-validator convention).

The checker is called ``checker INPUT_FILE ANSWER_FILE FEEDBACK_DIR < program_output`` with the case's
input and expected answer handed into its sandbox as files (``/sandbox/pkg/``); what it writes into
``FEEDBACK_DIR/judgemessage.txt`` is its message, else its stderr, else its stdout (:mod:`.feedback`).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace

from gosandbox.backends.base import Backend, ExecJob, ExecOutcome
from gosandbox.backends.handover import PACKAGE_DIR
from gosandbox.judge.feedback import checker_message
from gosandbox.judge.interaction import converse
from gosandbox.judge.task import SHOWN_OUTPUT_CHARS, Case, CaseResult, JudgeTask
from gosandbox.judge.verdicts import CaseVerdict, Verdict, judge_by_checker, judge_output
from gosandbox.limits import Limits
from gosandbox.models import Status
from gosandbox.runner import ms, text
from gosandbox.verdict import classify, explain, signal_name

#: The checker's arguments: the files handed into its sandbox, and its feedback directory (made by its relay).
CHECKER_ARGS = (f"{PACKAGE_DIR}/input.in", f"{PACKAGE_DIR}/answer.ans", "/tmp/feedback/")
#: A checker's own limits: at least these, whatever the cases' (it reads a whole output).
CHECKER_MIN_WALL_S = 5.0
CHECKER_MIN_MEMORY_MB = 256


@dataclass(frozen=True)
class CaseRunner:
    """Runs the cases of one task: the program's binary and, with a checker, the checker's, on one backend."""

    backend: Backend
    task: JudgeTask
    program: bytes
    checker: bytes | None
    cancel: threading.Event

    @property
    def interactive(self) -> bool:
        return self.checker is not None and self.task.checker is not None and self.task.checker.interactive

    def run(self, case: Case) -> CaseResult:
        """The case's run and verdict."""
        if self.checker is not None and self.interactive:
            return self._interactive(self.checker, case)
        return self.judged(case, self.backend.execute(self.job(case)))

    def job(self, case: Case) -> ExecJob:
        """The program's run on the case (not for an interactive problem: there the interactor is its input)."""
        return ExecJob(self.program, case.stdin, case.args, self.task.program.limits, self.cancel)

    def judged(self, case: Case, outcome: ExecOutcome) -> CaseResult:
        """The verdict on the program's run on the case: by comparison, or by the checker (run now)."""
        limits = self.task.program.limits
        status = classify(outcome)
        if self.checker is not None:
            verdict = self._checked(self.checker, case, status, outcome)
        else:
            verdict = judge_output(status, case.expected_stdout, text(outcome.stdout), self.task.comparison)
        return _result(case, verdict, outcome, explain(status, limits, outcome))

    def _checked(self, checker: bytes, case: Case, status: Status, outcome: ExecOutcome) -> CaseVerdict:
        if status is not Status.OK:
            return judge_by_checker(status, Status.OK, None, "")
        limits = checker_limits(self.task.program.limits)
        job = ExecJob(checker, outcome.stdout, CHECKER_ARGS, limits, self.cancel, _files(case))
        ran = self.backend.execute(job)
        message = checker_message(text(ran.stdout), text(ran.stderr))[:SHOWN_OUTPUT_CHARS]
        return judge_by_checker(status, classify(ran), ran.exit_code, message)

    def _interactive(self, interactor: bytes, case: Case) -> CaseResult:
        """The program and the interactor talking (:mod:`.interaction`); the interactor's exit code decides."""
        limits = self.task.program.limits
        program = ExecJob(self.program, b"", case.args, limits, self.cancel)
        judge = ExecJob(interactor, b"", CHECKER_ARGS, checker_limits(limits), self.cancel, _files(case))
        talk = converse(self.backend, program, judge)
        status = classify(talk.program)
        message = checker_message("", text(talk.interactor.stderr))[:SHOWN_OUTPUT_CHARS]
        verdict = judge_by_checker(status, classify(talk.interactor), talk.interactor.exit_code, message)
        return _result(case, verdict, talk.program, explain(status, limits, talk.program))


def _files(case: Case) -> dict[str, str]:
    """What a validator reads: the case's input and its answer, handed into its sandbox."""
    return {"input.in": text(case.stdin), "answer.ans": case.expected_stdout or ""}


def checker_limits(limits: Limits) -> Limits:
    """The checker's limits: the cases', with room to read a whole output, and no CPU-time limit of its own."""
    return replace(limits, wall_s=max(limits.wall_s, CHECKER_MIN_WALL_S),
                   memory_mb=max(limits.memory_mb, CHECKER_MIN_MEMORY_MB), cpu_ms=None)  # fmt: skip


def _result(case: Case, verdict: CaseVerdict, outcome: ExecOutcome, message: str | None) -> CaseResult:
    stdout, stderr = text(outcome.stdout), text(outcome.stderr)
    cut = len(stdout) > SHOWN_OUTPUT_CHARS or len(stderr) > SHOWN_OUTPUT_CHARS
    return CaseResult(
        name=case.name,
        status=verdict.verdict.value,
        exit_code=outcome.exit_code,
        signal=signal_name(outcome.signal),
        wall_ms=ms(outcome.duration_s),
        cpu_time_ms=outcome.cpu_time_ms,
        peak_memory_kb=outcome.peak_memory_kb,
        stdout=stdout[:SHOWN_OUTPUT_CHARS],
        stderr=stderr[:SHOWN_OUTPUT_CHARS],
        truncated=outcome.output_exceeded or cut,
        feedback=verdict.feedback,
        difference=asdict(verdict.difference) if verdict.difference is not None else None,
        message=message,
    )


def skipped(case: Case) -> CaseResult:
    """A case not run: lazy judging stopped at an earlier failure."""
    return CaseResult(name=case.name, status=Verdict.SKIPPED.value)

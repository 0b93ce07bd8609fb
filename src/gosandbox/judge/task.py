"""What a judging asks (a program, its cases, how answers are judged) and what it answers, as plain data.

A :class:`JudgeTask` travels as JSON inside a job (:meth:`to_json`, :meth:`from_json`: no pickle), so any
worker can rebuild it; the program's files, toolchain and per-case limits are its :class:`RunSpec`.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any

from gosandbox.diagnostics import Diagnostic
from gosandbox.errors import InvalidSource
from gosandbox.judge.compare import CompareMode, Comparison
from gosandbox.limits import Limits
from gosandbox.models import RunSpec
from gosandbox.source import MAX_STDIN_BYTES, check_args, check_files, make_spec

#: The most cases one judging holds.
MAX_CASES = 1000
#: The most bytes of a case's stdin, and of its expected output (each case's own cap).
MAX_CASE_INPUT_BYTES = MAX_STDIN_BYTES
#: A case's output and the checker's feedback are kept to this many characters in the answer.
SHOWN_OUTPUT_CHARS = 4096


@dataclass(frozen=True)
class Case:
    """One test case: its input, arguments and (optional) expected output."""

    name: str
    stdin: bytes = b""
    args: tuple[str, ...] = ()
    expected_stdout: str | None = None


@dataclass(frozen=True)
class Validator:
    """A Go program of the judge's, in Kattis's convention: a checker of each case's output, or, ``interactive``,
    the interactor the program talks with (its stdout the program's stdin and the other way round)."""

    files: dict[str, str]
    interactive: bool = False


@dataclass(frozen=True)
class JudgeTask:
    """A program (``program``: files, go_version, the limits of each case), its cases, and how to judge them.

    ``checker``: a Go output validator (a checker or an interactor), or None to compare by ``comparison``.
    """

    program: RunSpec
    cases: tuple[Case, ...]
    comparison: Comparison = field(default_factory=Comparison)
    checker: Validator | None = None
    stop_on_first_failure: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "cases": [_case_json(case) for case in self.cases],
            "comparison": asdict(self.comparison),
            "checker": self.checker.files if self.checker else None,
            "interactive": bool(self.checker and self.checker.interactive),
            "stop_on_first_failure": self.stop_on_first_failure,
        }

    @classmethod
    def from_json(cls, program: RunSpec, data: dict[str, Any]) -> JudgeTask:
        """Rebuild a task stored by :meth:`to_json` around its program; the cases are checked again."""
        comparison = dict(data.get("comparison") or {})
        comparison["mode"] = CompareMode(comparison.get("mode", CompareMode.LINES))
        return make_task(
            program,
            [_case_of(item) for item in data["cases"]],
            Comparison(**comparison),
            Validator(data["checker"], bool(data.get("interactive"))) if data.get("checker") is not None else None,
            bool(data.get("stop_on_first_failure")),
        )


def make_task(
    program: RunSpec,
    cases: list[Case],
    comparison: Comparison | None = None,
    checker: Validator | None = None,
    stop_on_first_failure: bool = False,
) -> JudgeTask:
    """A checked task: 1 to MAX_CASES cases, each within its caps; a validator's files checked as a program's."""
    if not 1 <= len(cases) <= MAX_CASES:
        raise InvalidSource(f"{len(cases)} cases sent; send between 1 and {MAX_CASES}")
    for number, case in enumerate(cases, start=1):
        _check_case(number, case)
    checked = Validator(check_files(checker.files), checker.interactive) if checker is not None else None
    return JudgeTask(program, tuple(cases), comparison or Comparison(), checked, stop_on_first_failure)


def _check_case(number: int, case: Case) -> None:
    if len(case.stdin) > MAX_CASE_INPUT_BYTES:
        raise InvalidSource(f"case {number}: stdin holds {len(case.stdin)} bytes; at most {MAX_CASE_INPUT_BYTES}")
    expected = len((case.expected_stdout or "").encode("utf-8", "surrogatepass"))
    if expected > MAX_CASE_INPUT_BYTES:
        raise InvalidSource(f"case {number}: expected_stdout holds {expected} bytes; at most {MAX_CASE_INPUT_BYTES}")
    if len(case.name) > 200:
        raise InvalidSource(f"case {number}: its name is longer than 200 characters")
    check_args(case.args)


def program_spec(files: dict[str, str], limits: Limits, go_version: str | None) -> RunSpec:
    """The program of a judging: its files checked, its limits those of every case."""
    return make_spec(files, limits=limits, go_version=go_version)


def _case_json(case: Case) -> dict[str, Any]:
    return {
        "name": case.name,
        "stdin_b64": base64.b64encode(case.stdin).decode("ascii"),
        "args": list(case.args),
        "expected_stdout": case.expected_stdout,
    }


def _case_of(data: dict[str, Any]) -> Case:
    return Case(str(data["name"]), base64.b64decode(data["stdin_b64"]), tuple(data["args"]), data["expected_stdout"])


@dataclass(frozen=True)
class Build:
    """The one build of a program (or of its checker)."""

    succeeded: bool
    output: str
    diagnostics: list[Diagnostic]
    duration_ms: int
    cached: bool


@dataclass(frozen=True)
class CaseResult:
    """One case's verdict and what its run used; ``feedback``: the first difference, or the checker's message."""

    name: str
    status: str
    exit_code: int | None = None
    signal: str | None = None
    wall_ms: int | None = None
    cpu_time_ms: int | None = None
    peak_memory_kb: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    feedback: str | None = None
    difference: dict[str, Any] | None = None
    message: str | None = None


@dataclass(frozen=True)
class JudgeResult:
    """The submission's verdict (its first failing case's), its build, its checker's build, and each case."""

    status: str
    build: Build
    cases: list[CaseResult]
    go_version: str
    checker: Build | None = None
    passed: int = 0
    timings_ms: dict[str, int] = field(default_factory=dict)

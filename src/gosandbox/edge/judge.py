"""The body of POST /judge (and of a ``judge`` submission): a program, its cases, how answers are judged."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gosandbox.auth.context import request_limits
from gosandbox.edge.schemas import LimitsIn, SourceRequest
from gosandbox.judge.compare import CompareMode, Comparison
from gosandbox.judge.task import MAX_CASES, Case, JudgeTask, Validator, make_task, program_spec
from gosandbox.settings import Settings
from gosandbox.source import utf8_bytes


class CaseIn(BaseModel):
    """One test case."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, description="shown in the answer (default: its number, from 1)")
    stdin: str = Field("", description="standard input of the program (UTF-8)")
    args: list[str] = Field(default_factory=list, description="command-line arguments after the program name")
    expected_stdout: str | None = Field(None, description="the answer; none: the case passes if the program ends ok")


class CompareIn(BaseModel):
    """How the output is compared with ``expected_stdout`` (without a checker)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["exact", "lines", "tokens"] = Field(
        "lines", description="exact: byte for byte; lines: trailing spaces and blank lines ignored; tokens: words"
    )
    float_abs: float | None = Field(None, ge=0, description="tokens: numbers match within this absolute error")
    float_rel: float | None = Field(None, ge=0, description="tokens: numbers match within this relative error")
    case_sensitive: bool = True

    def comparison(self) -> Comparison:
        return Comparison(CompareMode(self.mode), self.float_abs, self.float_rel, self.case_sensitive)


class ProgramIn(BaseModel):
    """A Go program of the judge's (a checker): ``code`` (main.go) or ``files``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str | None = None
    files: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.code is None) == (self.files is None):
            raise ValueError("send exactly one of 'code' and 'files'")
        return self

    def file_map(self) -> dict[str, str]:
        return {"main.go": self.code} if self.code is not None else dict(self.files or {})


class JudgeRequest(SourceRequest):
    """A program and its test cases: one build, then each case in a fresh sandbox with its own verdict."""

    cases: list[CaseIn] = Field(min_length=1, max_length=MAX_CASES, description=f"1 to {MAX_CASES} cases")
    limits: LimitsIn | None = Field(None, description="the limits of each case's run")
    compare: CompareIn | None = None
    checker: ProgramIn | None = Field(None, description="a Kattis-style output validator in Go (exit 42: accepted)")
    interactor: ProgramIn | None = Field(
        None, description="an interactive problem's judge in Go: its stdout is the program's stdin and the other way"
    )
    stop_on_first_failure: bool = Field(False, description="lazy judging: the cases after the first failure skipped")

    @model_validator(mode="after")
    def _checker_or_interactor(self) -> Self:
        if self.checker is not None and self.interactor is not None:
            raise ValueError("send a checker or an interactor, not both")
        if (self.checker is not None or self.interactor is not None) and self.compare is not None:
            raise ValueError("send a checker (or an interactor) or a compare mode, not both")
        return self


class JudgeSubmission(JudgeRequest):
    """A job judging a program: a /judge body, plus ``kind`` and ``callback_url``."""

    kind: Literal["judge"]
    callback_url: str | None = Field(None, description="POST the final submission here (a host it allows)")


def judge_task(parsed: JudgeRequest, settings: Settings) -> JudgeTask:
    """The parsed body as a checked task; the limits within the server's (and the key's) caps."""
    limits = request_limits(settings, parsed.limits.overrides() if parsed.limits else {})
    program = program_spec(parsed.file_map(), limits, parsed.go_version)
    cases = [_case(number, case) for number, case in enumerate(parsed.cases, start=1)]
    comparison = parsed.compare.comparison() if parsed.compare else Comparison()
    checker = Validator(parsed.checker.file_map()) if parsed.checker else None
    if parsed.interactor is not None:
        checker = Validator(parsed.interactor.file_map(), interactive=True)
    return make_task(program, cases, comparison, checker, parsed.stop_on_first_failure)


def _case(number: int, case: CaseIn) -> Case:
    stdin = utf8_bytes(case.stdin, f"case {number}'s stdin")
    return Case(case.name or str(number), stdin, tuple(case.args), case.expected_stdout)

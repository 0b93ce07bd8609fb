"""The ``judge_go`` tool: a program built once and run on many test cases, each with its own verdict.

An agent solving a programming exercise (or grading one) sends the program and the cases (stdin and the
expected stdout); the call is POST /judge's job (:mod:`gosandbox.api.judge`), so the same parsing decides.
Each case's output is shortened here: a model needs the verdicts and the first difference, not every byte.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gosandbox.mcp.schemas import LimitsArgs, Position, SourceArgs, Timings

#: How much of each case's stdout and stderr the tool returns.
SHOWN_CHARS = 1000


class CaseArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="shown in the result (default: the case's number, from 1)")
    stdin: str = Field("", description="standard input of the program for this case")
    args: list[str] | None = Field(None, description="command-line arguments for this case")
    expected_stdout: str | None = Field(None, description="the right output; leave out to only check it runs")


class CompareArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["exact", "lines", "tokens"] = Field(
        "lines", description="lines (default): trailing spaces and blank lines ignored; tokens: words; exact"
    )
    float_abs: float | None = Field(None, description="tokens: numbers match within this absolute error")
    float_rel: float | None = Field(None, description="tokens: numbers match within this relative error")
    case_sensitive: bool = True


class CheckerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(None, description="main.go of a Go output validator (Kattis convention)")
    files: dict[str, str] | None = Field(None, description="or its files")


class JudgeArgs(SourceArgs):
    cases: list[CaseArgs] = Field(description="1 to 1000 test cases")
    limits: LimitsArgs | None = Field(None, description="the limits of each case's run")
    compare: CompareArgs | None = None
    checker: CheckerArgs | None = Field(
        None,
        description="instead of compare: a Go program called as 'checker INPUT ANSWER FEEDBACK_DIR < output' that "
        "exits 42 to accept, 43 to reject (its FEEDBACK_DIR/judgemessage.txt is the feedback)",
    )
    stop_on_first_failure: bool | None = Field(None, description="skip the cases after the first failing one")


class CaseOut(BaseModel):
    name: str
    status: str = Field(description="accepted, wrong_answer, runtime_error, timeout, memory_limit, output_limit, "
                        "checker_error, or skipped")  # fmt: skip
    exit_code: int | None
    wall_ms: int | None
    cpu_time_ms: int | None
    peak_memory_kb: int | None
    stdout: str = Field(description=f"the first {SHOWN_CHARS} characters")
    stderr: str = Field(description=f"the first {SHOWN_CHARS} characters")
    feedback: str | None = Field(description="wrong_answer: where the output first differs; or the checker's message")
    message: str | None = Field(description="why the run ended as it did (a limit, an exit code)")


class BuildOut(BaseModel):
    succeeded: bool
    output: str
    diagnostics: list[Position]
    cached: bool


class JudgeOutput(BaseModel):
    """What ``judge_go`` returns: the overall verdict, the build, and each case."""

    status: str = Field(description="the first failing case's verdict, accepted when all pass, or compile_error")
    passed: int = Field(description="how many cases were accepted")
    build: BuildOut
    checker: BuildOut | None
    cases: list[CaseOut]
    timings_ms: Timings
    go_version: str


def judge_output(result: dict[str, Any]) -> JudgeOutput:
    cases = [
        {**case, "stdout": case["stdout"][:SHOWN_CHARS], "stderr": case["stderr"][:SHOWN_CHARS]}
        for case in result["cases"]
    ]
    return JudgeOutput.model_validate({**result, "cases": cases})


JUDGE_DESCRIPTION = (
    "Judge a Go program on test cases, as a programming contest or an autograder does: it is compiled once, then "
    "run on each case's stdin in a fresh sandbox, and its stdout compared with the case's expected_stdout (by "
    "lines by default; tokens with float tolerances; or a checker program). Returns the overall status "
    "(accepted, wrong_answer, compile_error, runtime_error, timeout, memory_limit, output_limit, checker_error) "
    "and per case its status, time, memory and, for a wrong answer, where the output first differs. Use it to "
    "check a solution against several examples in one call instead of calling run_go once per example."
)

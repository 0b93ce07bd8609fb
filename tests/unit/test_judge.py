"""gosandbox.judge: comparing an output with the expected one, and the verdicts of cases and submissions, by tables."""

from __future__ import annotations

import pytest

from gosandbox.judge.compare import CompareMode, Comparison, Difference, first_difference
from gosandbox.judge.verdicts import Verdict, judge_by_checker, judge_output, lazily, overall
from gosandbox.models import Status

EXACT = Comparison(CompareMode.EXACT)
LINES = Comparison()
TOKENS = Comparison(CompareMode.TOKENS)
FLOATS = Comparison(CompareMode.TOKENS, float_abs=1e-6, float_rel=1e-6)


@pytest.mark.parametrize(
    ("expected", "got", "comparison"),
    [
        ("4\n", "4\n", EXACT),
        ("4\n", "4   \n", LINES),  # trailing whitespace of a line
        ("4\n", "4\n\n\n", LINES),  # trailing blank lines
        ("4\n", "4", LINES),  # no final newline
        ("a b\r\nc\r\n", "a b\nc\n", LINES),  # CRLF is trailing whitespace
        ("1 2 3\n", "1\n2    3", TOKENS),  # any spacing
        ("Yes\n", "YES\n", Comparison(case_sensitive=False)),
        ("3.14159265\n", "3.1415927\n", FLOATS),  # within 1e-6 absolute
        ("1000000000\n", "1000000999.0\n", Comparison(CompareMode.TOKENS, float_rel=1e-6)),  # within 1e-6 relative
        ("0.5 word\n", "5e-1 word\n", FLOATS),
        ("", "", LINES),
        ("", "\n\n", LINES),
    ],
)
def test_outputs_that_match(expected: str, got: str, comparison: Comparison) -> None:
    assert first_difference(expected, got, comparison) is None


@pytest.mark.parametrize(
    ("expected", "got", "comparison", "difference"),
    [
        ("4\n", "4 \n", EXACT, Difference(1, 2, "4", "4 ")),
        ("4\n", "5\n", LINES, Difference(1, 1, "4", "5")),
        ("1\n2\n", "1\n", LINES, Difference(2, 1, "2", "<end of output>")),  # a line missing
        ("1\n", "1\n2\n", LINES, Difference(2, 1, "<end of output>", "2")),  # a line too many
        ("  4\n", "4\n", LINES, Difference(1, 1, "  4", "4")),  # leading whitespace counts
        ("a\n\nb\n", "a\nb\n", LINES, Difference(2, 1, "", "b")),  # a blank line inside counts
        ("Yes\n", "YES\n", LINES, Difference(1, 2, "Yes", "YES")),  # case counts by default
        ("1 2\n", "1 3\n", TOKENS, Difference(1, 3, "2", "3")),
        ("1 2\n", "1\n", TOKENS, Difference(1, 3, "2", "<end of output>")),  # where the expected token is
        ("3.14159265\n", "3.1416\n", FLOATS, Difference(1, 1, "3.14159265", "3.1416")),
        ("3.0\n", "3.0000001\n", TOKENS, Difference(1, 1, "3.0", "3.0000001")),  # no tolerance asked
        ("nan\n", "nan\n", FLOATS, None),  # equal as text
        ("1.0\n", "nan\n", FLOATS, Difference(1, 1, "1.0", "nan")),  # nan is no number
        ("x\n", "y" * 100 + "\n", LINES, Difference(1, 1, "x", "y" * 40 + "…")),  # shortened
    ],
)
def test_the_first_difference_and_where(expected: str, got: str, comparison: Comparison,
                                        difference: Difference | None) -> None:  # fmt: skip
    assert first_difference(expected, got, comparison) == difference


def test_a_difference_far_into_a_line_shows_where_it_is() -> None:
    found = first_difference("a" * 100 + "b\n", "a" * 100 + "c\n")
    assert found is not None
    assert (found.line, found.column) == (1, 101)
    assert found.expected == "…" + "a" * 10 + "b"
    assert found.got == "…" + "a" * 10 + "c"


@pytest.mark.parametrize(
    ("status", "expected", "got", "verdict"),
    [
        (Status.OK, "4\n", "4\n", Verdict.ACCEPTED),
        (Status.OK, "4\n", "5\n", Verdict.WRONG_ANSWER),
        (Status.OK, None, "anything", Verdict.ACCEPTED),  # no expected output: running to the end is enough
        (Status.TIMEOUT, "4\n", "4\n", Verdict.TIMEOUT),  # a limit wins over a right answer
        (Status.MEMORY_LIMIT, "4\n", "", Verdict.MEMORY_LIMIT),
        (Status.RUNTIME_ERROR, "4\n", "4\n", Verdict.RUNTIME_ERROR),
        (Status.OUTPUT_LIMIT, "4\n", "4\n4\n", Verdict.OUTPUT_LIMIT),
        (Status.COMPILE_ERROR, "4\n", "", Verdict.COMPILE_ERROR),
    ],
)
def test_a_case_judged_by_comparison(status: Status, expected: str | None, got: str, verdict: Verdict) -> None:
    assert judge_output(status, expected, got, LINES).verdict is verdict


def test_a_wrong_answer_says_the_first_difference() -> None:
    judged = judge_output(Status.OK, "1\n2\n", "1\n3\n", LINES)
    assert judged.feedback == "line 2, column 1: expected '2', got '3'"


@pytest.mark.parametrize(
    ("status", "checker_status", "checker_exit", "verdict", "feedback"),
    [
        (Status.OK, Status.RUNTIME_ERROR, 42, Verdict.ACCEPTED, "fine"),
        (Status.OK, Status.RUNTIME_ERROR, 43, Verdict.WRONG_ANSWER, "fine"),
        (Status.OK, Status.OK, 0, Verdict.CHECKER_ERROR, "the checker ended ok with exit code 0: fine"),
        (
            Status.OK,
            Status.RUNTIME_ERROR,
            2,
            Verdict.CHECKER_ERROR,
            f"the checker ended {Status.RUNTIME_ERROR} with exit code 2: fine",
        ),
        (Status.OK, Status.TIMEOUT, None, Verdict.CHECKER_ERROR, "the checker ended timeout: fine"),
        (Status.TIMEOUT, Status.RUNTIME_ERROR, 42, Verdict.TIMEOUT, None),  # the checker never judged it
    ],
)
def test_a_case_judged_by_a_checker(status: Status, checker_status: Status, checker_exit: int | None,
                                    verdict: Verdict, feedback: str | None) -> None:  # fmt: skip
    judged = judge_by_checker(status, checker_status, checker_exit, "fine")
    assert (judged.verdict, judged.feedback) == (verdict, feedback)


@pytest.mark.parametrize(
    ("verdicts", "verdict"),
    [
        ([], Verdict.ACCEPTED),
        ([Verdict.ACCEPTED] * 3, Verdict.ACCEPTED),
        ([Verdict.ACCEPTED, Verdict.WRONG_ANSWER, Verdict.TIMEOUT], Verdict.WRONG_ANSWER),  # the first failure
        ([Verdict.ACCEPTED, Verdict.SKIPPED], Verdict.ACCEPTED),
        ([Verdict.CHECKER_ERROR, Verdict.WRONG_ANSWER], Verdict.CHECKER_ERROR),
    ],
)
def test_the_submission_is_its_first_failing_case(verdicts: list[Verdict], verdict: Verdict) -> None:
    assert overall(verdicts) is verdict


def test_lazy_judging_skips_the_cases_after_the_first_failure() -> None:
    ran = [Verdict.ACCEPTED, Verdict.TIMEOUT, Verdict.ACCEPTED, Verdict.WRONG_ANSWER]
    assert lazily(ran, stop_on_first_failure=True) == [Verdict.ACCEPTED, Verdict.TIMEOUT, Verdict.SKIPPED,
                                                       Verdict.SKIPPED]  # fmt: skip
    assert lazily(ran, stop_on_first_failure=False) == ran

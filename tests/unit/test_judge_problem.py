"""The judge's file-level pieces, by tables: a problem directory read (cases in order, problem.yaml's flags, the
validator), the checker's message, the JSON round trip of a task, the package clause of go test's writable copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from gosandbox.errors import InvalidSource
from gosandbox.gotest import WRITABLE_DIR_FILE, with_writable_dir
from gosandbox.judge.compare import CompareMode, Comparison
from gosandbox.judge.feedback import MARK, checker_message, with_relay
from gosandbox.judge.problem import comparison_of, load_problem, read_problem_yaml
from gosandbox.judge.task import Case, JudgeTask, Validator, make_task
from gosandbox.source import make_spec

PROBLEMS = Path(__file__).parent.parent / "data" / "problems"


def test_a_problem_directory_gives_its_samples_then_its_secret_cases_in_name_order() -> None:
    problem = load_problem(PROBLEMS / "average")
    assert [case.name for case in problem.cases] == ["sample/1", "sample/2", "secret/1-large", "secret/2-one"]
    assert problem.cases[0] == Case("sample/1", b"3\n1 2 4\n", (), "2.333333333\n")
    assert problem.comparison == Comparison(CompareMode.TOKENS, 1e-6, 1e-6, case_sensitive=False)
    assert (problem.validator, problem.interactive) == (None, False)


def test_the_validator_of_a_custom_and_of_an_interactive_problem() -> None:
    divisor, guess = load_problem(PROBLEMS / "divisor"), load_problem(PROBLEMS / "guess")
    assert divisor.validator is not None
    assert list(divisor.validator) == ["validator.go"]
    assert not divisor.interactive
    assert guess.validator is not None
    assert list(guess.validator) == ["interactor.go"]
    assert guess.interactive


@pytest.mark.parametrize(
    ("flags", "comparison"),
    [
        ("", Comparison(CompareMode.TOKENS, case_sensitive=False)),
        ("case_sensitive", Comparison(CompareMode.TOKENS, case_sensitive=True)),
        ("space_change_sensitive", Comparison(CompareMode.EXACT, case_sensitive=False)),
        ("float_tolerance 1e-4", Comparison(CompareMode.TOKENS, 1e-4, 1e-4, case_sensitive=False)),
        ("float_absolute_tolerance 0.5 float_relative_tolerance 0.1",
         Comparison(CompareMode.TOKENS, 0.5, 0.1, case_sensitive=False)),
    ],
)  # fmt: skip
def test_validator_flags(flags: str, comparison: Comparison) -> None:
    assert comparison_of(flags) == comparison


def test_a_tolerance_without_its_number_is_refused() -> None:
    with pytest.raises(InvalidSource, match="float_tolerance needs a number"):
        comparison_of("float_tolerance")


def test_problem_yaml_top_level_keys_only(tmp_path: Path) -> None:
    (tmp_path / "problem.yaml").write_text(
        "name: 'Guess'  # a comment\nvalidation: custom interactive\nlimits:\n  time_multiplier: 5\n"
    )
    assert read_problem_yaml(tmp_path / "problem.yaml") == {"name": "Guess", "validation": "custom interactive",
                                                           "limits": ""}  # fmt: skip
    assert read_problem_yaml(tmp_path / "absent.yaml") == {}


def test_a_custom_problem_without_a_validator_is_refused(tmp_path: Path) -> None:
    (tmp_path / "problem.yaml").write_text("validation: custom\n")
    with pytest.raises(InvalidSource, match="asks for a custom validator"):
        load_problem(tmp_path)


@pytest.mark.parametrize(
    ("stdout", "stderr", "message"),
    [
        ("", f"debug line\n{MARK}1 is not a divisor\n", "1 is not a divisor"),  # judgemessage.txt wins
        ("on stdout\n", "on stderr\n", "on stderr"),
        ("on stdout\n", "", "on stdout"),
    ],
)
def test_the_checkers_message(stdout: str, stderr: str, message: str) -> None:
    assert checker_message(stdout, stderr) == message


def test_the_relay_goes_into_the_checkers_package_under_a_name_of_its_own() -> None:
    assert "zz_gosandbox_feedback.go" in with_relay({"main.go": "package main"})
    with pytest.raises(InvalidSource):
        with_relay({"zz_gosandbox_feedback.go": "package main"})


def test_a_task_survives_its_json() -> None:
    program = make_spec({"main.go": "package main"})
    task = make_task(program, [Case("a", b"\x00\xff", ("-v",), "x")], Comparison(CompareMode.EXACT, 0.1),
                     Validator({"main.go": "package main"}, interactive=True), stop_on_first_failure=True)  # fmt: skip
    assert JudgeTask.from_json(program, task.to_json()) == task


@pytest.mark.parametrize(
    ("files", "package"),
    [
        ({"poem.go": "// Package poem.\npackage poem\n", "poem_test.go": "package poem_test\n"}, "poem"),
        ({"only_test.go": "package lonely_test\n"}, "lonely"),
        ({"go.mod": "module m\n", "a/b.go": "package b\n"}, None),  # no Go file at the root: as sent
    ],
)
def test_the_writable_copys_file_is_in_the_packages_own_package(files: dict[str, str], package: str | None) -> None:
    added = with_writable_dir(files)
    if package is None:
        assert added == files
    else:
        assert added[WRITABLE_DIR_FILE].splitlines()[2] == f"package {package}"

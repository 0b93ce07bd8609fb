"""A problem directory in the layout graders already use (a Kattis / DOMjudge / ICPC problem package).

::

    problem.yaml                      optional: validation, validator_flags, type
    data/sample/*.in, *.ans           the sample cases, first
    data/secret/**/*.in, *.ans        the secret cases (groups in subdirectories), in name order
    output_validators/NAME/*.go       a custom output validator in Go (the 2023 layout: output_validator/)

Without a custom validator the answers are compared as Kattis's default validator does: by tokens, letters
without case; ``validator_flags`` change that: ``case_sensitive``, ``space_change_sensitive`` (the output
compared as it is, spaces and all), ``float_tolerance E`` (or ``float_absolute_tolerance`` /
``float_relative_tolerance``). ``validation: custom`` (or a validator directory) judges by the validator;
``type: interactive`` or ``validation: custom interactive`` makes it an interactive problem (the validator is
then the interactor).

problem.yaml is read for these top-level keys only (``key: value`` lines), so no YAML library is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gosandbox.errors import InvalidSource
from gosandbox.judge.compare import CompareMode, Comparison
from gosandbox.judge.task import Case

_TOP_LEVEL = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_VALIDATOR_DIRS = ("output_validators", "output_validator")


@dataclass(frozen=True)
class Problem:
    """What a problem directory asks: its cases in order, their comparison, and its validator's files."""

    cases: list[Case]
    comparison: Comparison
    validator: dict[str, str] | None = None
    interactive: bool = False


def load_problem(directory: Path) -> Problem:
    """The cases, comparison and validator of the problem at ``directory`` (see the module's docstring)."""
    settings = read_problem_yaml(directory / "problem.yaml")
    validation = settings.get("validation", "default").split()
    interactive = settings.get("type", "") == "interactive" or "interactive" in validation
    validator = validator_files(directory)
    if (interactive or "custom" in validation) and validator is None:
        raise InvalidSource(f"{directory}: problem.yaml asks for a custom validator; none is in output_validators/")
    cases = _cases(directory / "data" / "sample") + _cases(directory / "data" / "secret")
    if not cases:
        raise InvalidSource(f"{directory}: no cases: data/sample/*.in and data/secret/*.in are both empty")
    return Problem(cases, comparison_of(settings.get("validator_flags", "")), validator, interactive)


def read_problem_yaml(path: Path) -> dict[str, str]:
    """The top-level ``key: value`` pairs of problem.yaml (quotes taken off); an absent file is empty."""
    if not path.is_file():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _TOP_LEVEL.match(line.split(" #", 1)[0])
        if match:
            found[match.group(1)] = match.group(2).strip("'\"")
    return found


def comparison_of(flags: str) -> Comparison:
    """Kattis's default output validator under ``validator_flags``.

    >>> comparison_of("float_tolerance 1e-6 case_sensitive")
    Comparison(mode=<CompareMode.TOKENS: 'tokens'>, float_abs=1e-06, float_rel=1e-06, case_sensitive=True)
    """
    words = flags.split()
    mode = CompareMode.EXACT if "space_change_sensitive" in words else CompareMode.TOKENS
    both = _flag_value(words, "float_tolerance")
    absolute = _flag_value(words, "float_absolute_tolerance")
    relative = _flag_value(words, "float_relative_tolerance")
    return Comparison(mode, absolute if absolute is not None else both, relative if relative is not None else both,
                      "case_sensitive" in words)  # fmt: skip


def _flag_value(words: list[str], name: str) -> float | None:
    if name not in words:
        return None
    index = words.index(name) + 1
    try:
        return float(words[index])
    except (IndexError, ValueError):
        raise InvalidSource(f"validator_flags: {name} needs a number after it") from None


def validator_files(directory: Path) -> dict[str, str] | None:
    """The Go package of the problem's output validator (its files by name in the package), or None."""
    for name in _VALIDATOR_DIRS:
        place = directory / name
        if not place.is_dir():
            continue
        packages = [p for p in sorted(place.iterdir()) if p.is_dir()] if name == "output_validators" else [place]
        for package in packages:
            files = {str(p.relative_to(package)): p.read_text(encoding="utf-8") for p in sorted(package.rglob("*"))
                     if p.is_file()}  # fmt: skip
            if any(file.endswith(".go") for file in files):
                return files
    return None


def _cases(directory: Path) -> list[Case]:
    """The ``*.in`` files under ``directory`` in name order, each with its ``*.ans`` (None where there is none)."""
    if not directory.is_dir():
        return []
    cases = []
    for stdin in sorted(directory.rglob("*.in")):
        answer = stdin.with_suffix(".ans")
        expected = answer.read_text(encoding="utf-8") if answer.is_file() else None
        name = str(stdin.relative_to(directory.parent).with_suffix(""))
        cases.append(Case(name, stdin.read_bytes(), (), expected))
    return cases

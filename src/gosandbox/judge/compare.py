"""Does a program's output match the expected one? The first difference, or None.

Three modes, as graders use them:

- ``exact``: byte for byte (as text).
- ``lines`` (the default, as Judge0 compares): trailing whitespace of each line and trailing blank lines are
  ignored, nothing else.
- ``tokens``: whitespace-separated tokens, however spaced (Kattis's default output validator); with
  ``float_abs`` or ``float_rel``, a token that reads as a number in the expected output matches one of the
  output within either tolerance (``|got - expected| <= float_abs``, or ``<= float_rel * |expected|``).

``case_sensitive=False`` compares letters without case, in every mode.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

#: How much of each side a difference shows.
SHOWN_CHARS = 40
_END = "<end of output>"
_TOKEN = re.compile(r"\S+")
_TRAILING_SPACE = " \t\r\v\f"


class CompareMode(StrEnum):
    EXACT = "exact"
    LINES = "lines"
    TOKENS = "tokens"


@dataclass(frozen=True)
class Comparison:
    """How outputs are compared (see the module's docstring)."""

    mode: CompareMode = CompareMode.LINES
    float_abs: float | None = None
    float_rel: float | None = None
    case_sensitive: bool = True


@dataclass(frozen=True)
class Difference:
    """Where the output first differs from the expected one: 1-based line and column, and each side, shortened."""

    line: int
    column: int
    expected: str
    got: str

    def sentence(self) -> str:
        """The difference in words.

        >>> Difference(2, 1, "4", "5").sentence()
        "line 2, column 1: expected '4', got '5'"
        """
        return f"line {self.line}, column {self.column}: expected {self.expected!r}, got {self.got!r}"


def first_difference(expected: str, got: str, comparison: Comparison = Comparison()) -> Difference | None:
    """None when ``got`` matches ``expected`` under ``comparison``; else where it first differs.

    >>> first_difference("4\\n", "4   \\n\\n") is None
    True
    >>> first_difference("1 2\\n", "1 3\\n").sentence()
    "line 1, column 3: expected '1 2', got '1 3'"
    """
    if comparison.mode is CompareMode.EXACT:
        return _first_difference_exact(expected, got, comparison)
    if comparison.mode is CompareMode.LINES:
        return _first_difference_lines(expected, got, comparison)
    return _first_difference_tokens(expected, got, comparison)


def _fold(text: str, comparison: Comparison) -> str:
    return text if comparison.case_sensitive else text.casefold()


def _first_difference_exact(expected: str, got: str, comparison: Comparison) -> Difference | None:
    return _first_line_difference(expected.split("\n"), got.split("\n"), comparison)


def _first_difference_lines(expected: str, got: str, comparison: Comparison) -> Difference | None:
    return _first_line_difference(_significant_lines(expected), _significant_lines(got), comparison)


def _significant_lines(text: str) -> list[str]:
    """The lines without their trailing whitespace, and without the blank lines at the end."""
    lines = [line.rstrip(_TRAILING_SPACE) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _first_line_difference(expected: list[str], got: list[str], comparison: Comparison) -> Difference | None:
    for number in range(max(len(expected), len(got))):
        want = expected[number] if number < len(expected) else None
        have = got[number] if number < len(got) else None
        if want is not None and have is not None and _fold(want, comparison) == _fold(have, comparison):
            continue
        column = _first_column(want or "", have or "", comparison)
        return Difference(number + 1, column, _shown(want, column), _shown(have, column))
    return None


def _first_column(want: str, have: str, comparison: Comparison) -> int:
    for index, (a, b) in enumerate(zip(_fold(want, comparison), _fold(have, comparison), strict=False)):
        if a != b:
            return index + 1
    return min(len(want), len(have)) + 1


def _shown(text: str | None, column: int) -> str:
    """The text from a little before ``column``, at most SHOWN_CHARS characters; None is the end of the output."""
    if text is None:
        return _END
    start = max(0, column - 1 - SHOWN_CHARS // 4)
    part = text[start : start + SHOWN_CHARS]
    return ("…" if start else "") + part + ("…" if start + SHOWN_CHARS < len(text) else "")


@dataclass(frozen=True)
class _Token:
    text: str
    line: int
    column: int


def _tokens(text: str) -> list[_Token]:
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        found += [_Token(match.group(), number, match.start() + 1) for match in _TOKEN.finditer(line)]
    return found


def _first_difference_tokens(expected: str, got: str, comparison: Comparison) -> Difference | None:
    want, have = _tokens(expected), _tokens(got)
    for index in range(max(len(want), len(have))):
        a = want[index] if index < len(want) else None
        b = have[index] if index < len(have) else None
        if a is not None and b is not None and _tokens_match(a.text, b.text, comparison):
            continue
        where = b or a
        assert where is not None
        return Difference(
            where.line, where.column, a.text[:SHOWN_CHARS] if a else _END, b.text[:SHOWN_CHARS] if b else _END
        )
    return None


def _tokens_match(want: str, have: str, comparison: Comparison) -> bool:
    if _fold(want, comparison) == _fold(have, comparison):
        return True
    if comparison.float_abs is None and comparison.float_rel is None:
        return False
    expected, got = _number(want), _number(have)
    if expected is None or got is None:
        return False
    error = abs(got - expected)
    within_abs = comparison.float_abs is not None and error <= comparison.float_abs
    within_rel = comparison.float_rel is not None and error <= comparison.float_rel * abs(expected)
    return within_abs or within_rel


def _number(token: str) -> float | None:
    """The token as a finite number, or None (``nan``, ``inf`` and words are not numbers here)."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None

"""Version selectors as npm's ``semver`` reads them, for the APIs (Piston) whose clients send ranges.

Enough of the grammar for what clients send: an exact version, ``*``/``x``, partial versions
(``1.27`` = ``1.27.x``), ``^``/``~``, comparators (``>=1.20 <2``) and ``||``. A toolchain whose name
is not ``X.Y.Z`` (a custom one, ``1.27-alt``) matches only itself, spelled exactly.

>>> satisfies("1.27.3", "^1.20")
True
>>> best_match(["1.26.1", "1.27.3"], "1.26.x")
'1.26.1'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

Version = tuple[int, int, int]

_VERSION = re.compile(r"^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})$")
_PARTIAL = re.compile(r"^v?(\d{1,9}|[xX*])(?:\.(\d{1,9}|[xX*]))?(?:\.(\d{1,9}|[xX*]))?$")
_COMPARATOR = re.compile(r"^(\^|~|>=|<=|>|<|=)?\s*(\S+)$")


def _next(version: Version, part: int) -> Version:
    """The least version above every one that shares ``version``'s first ``part + 1`` parts."""
    if part == 0:
        return version[0] + 1, 0, 0
    if part == 1:
        return version[0], version[1] + 1, 0
    return version[0], version[1], version[2] + 1


def parse_version(text: str) -> Version | None:
    """``"1.27.3"`` -> ``(1, 27, 3)``; None for anything else."""
    found = _VERSION.match(text.strip())
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def _partial(text: str) -> tuple[Version, int] | None:
    """A version with some parts left out: its floor and how many parts were given (0-3)."""
    found = _PARTIAL.match(text)
    if found is None:
        return None
    given: list[int] = []
    for part in found.groups():
        if part is None or part in "xX*":
            break
        given.append(int(part))
    floor = [*given, 0, 0, 0][:3]
    return (floor[0], floor[1], floor[2]), len(given)


def _bounds(operator: str, floor: Version, given: int) -> tuple[Version | None, bool, Version | None] | None:
    """(lowest, lowest included, below this) of one comparator; None: matches nothing."""
    if given == 0:
        return (None, True, None) if operator in ("", "=", ">=", "<=", "^", "~") else None
    next_up = _next(floor, given - 1)
    if operator in ("", "="):
        return floor, True, next_up
    if operator == "^":
        first = next((i for i, part in enumerate(floor) if part != 0), 2)
        return floor, True, _next(floor, min(first, given - 1))
    if operator == "~":
        return floor, True, _next(floor, min(1, given - 1))
    return {">=": (floor, True, None), ">": (next_up, True, None), "<": (None, True, floor),
            "<=": (None, True, next_up)}[operator]  # fmt: skip


def _comparator_holds(version: Version, comparator: str) -> bool:
    found = _COMPARATOR.match(comparator)
    partial = _partial(found[2]) if found else None
    if found is None or partial is None:
        return False
    bounds = _bounds(found[1] or "", *partial)
    if bounds is None:
        return False
    low, _, below = bounds
    return (low is None or version >= low) and (below is None or version < below)


def satisfies(version: str, selector: str) -> bool:
    """Does ``version`` fall in ``selector``? A non-semver version matches only its own spelling."""
    parsed = parse_version(version)
    if parsed is None:
        return version == selector.strip()
    for alternative in selector.split("||"):
        # "1.2 - 1.4" (hyphen ranges) are not read; ">= 1.2" is joined to ">=1.2" first.
        comparators = re.sub(r"(\^|~|>=|<=|>|<|=)\s+", r"\1", alternative.strip()).split() or ["*"]
        if all(_comparator_holds(parsed, c) for c in comparators):
            return True
    return False


def best_match(versions: Iterable[str], selector: str) -> str | None:
    """The highest of ``versions`` that ``selector`` accepts (as Piston picks a runtime); None if none does."""
    matching = [v for v in versions if satisfies(v, selector)]
    if not matching:
        return None
    return max(matching, key=lambda v: (parse_version(v) is not None, parse_version(v) or (0, 0, 0)))

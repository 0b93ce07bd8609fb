"""Go's race detector: what a race build may hold, and its reports read as data.

A program built with ``-race`` writes each data race it sees to stderr as a block between two lines of ``=``
(the two conflicting accesses with their stacks, then where each goroutine was created), goes on, and exits with
code 66 at the end (``GORACE`` ``exitcode``). :func:`parse_races` reads those blocks into :class:`Race` values,
the frames in the submission's own files named as the submission names them.

The race runtime needs cgo and a C toolchain in the builder; the submission itself still may not use cgo:
:func:`check_race_sources` refuses ``import "C"`` and every directive that speaks to the C toolchain
(``#cgo``, ``//go:cgo_*``), before anything reaches a builder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gosandbox.errors import InvalidSource
from gosandbox.gotest import module_path

#: Go's exit code for a program that saw a data race (the race runtime's default ``exitcode``).
RACE_EXIT_CODE = 66
#: The most races one answer carries, and the most frames of one stack (the rest is in ``stderr``).
MAX_RACES = 64
MAX_FRAMES = 32

_SEPARATOR = "=================="
_HEADER = "WARNING: DATA RACE"
_ACCESS = re.compile(r"^(Previous )?(?:(?:Atomic )?(read|write)) at 0x[0-9a-f]+ by (main goroutine|goroutine (\d+)):$",
                     re.IGNORECASE)  # fmt: skip
_CREATED = re.compile(r"^Goroutine (\d+) \([^)]*\) created at:$")
_FUNCTION = re.compile(r"^  (\S.*)\(\)$")
_POSITION = re.compile(r"^      (\S.*?):(\d+)(?: \+0x[0-9a-f]+)?$")
#: The main goroutine is goroutine 1 in every Go program.
_MAIN_GOROUTINE = 1


class AccessKind(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Frame:
    """One call of a stack: ``file`` as the submission names it when it is one of its files (``main.go``),
    else as Go printed it (``sync/mutex.go``)."""

    function: str
    file: str
    line: int


@dataclass(frozen=True)
class Access:
    """One of a race's two accesses to the same memory: ``goroutine`` read or wrote it at ``frames[0]``."""

    kind: AccessKind
    goroutine: int
    frames: list[Frame]
    previous: bool = False  # the earlier of the two ("Previous write at ...")


@dataclass(frozen=True)
class Creation:
    """Where a goroutine of the race was started (the ``go`` statement, then its callers)."""

    goroutine: int
    frames: list[Frame]


@dataclass(frozen=True)
class Race:
    """One data race: its two accesses, where their goroutines were created, and (``/test``) the test it ran in."""

    accesses: list[Access]
    created: list[Creation] = field(default_factory=list)
    test: str | None = None


# --- refusing cgo -------------------------------------------------------------------------------

# A Go file's tokens that matter here: comments, strings and runes (skipped whole), identifiers, parentheses.
_GO_TOKEN = re.compile(
    r'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:[^"\\\n]|\\.)*"?|`[^`]*`?|\'(?:[^\'\\\n]|\\.)*\'?|[A-Za-z_][A-Za-z0-9_]*|[();.]|\S',
    re.DOTALL,
)
#: A directive to the C toolchain in any comment: ``#cgo CFLAGS: ...`` (a cgo preamble), ``//go:cgo_ldflag``.
_C_TOOLCHAIN_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*cgo\b|//[ \t]*go:cgo_|/\*[ \t]*go:cgo_", re.MULTILINE)


def check_race_sources(files: Mapping[str, str]) -> None:
    """Refuse what would reach the C compiler or the external linker of a race build (422).

    ``import "C"`` (cgo: the C compiler would read the preamble) and the directives that pass flags to the C
    toolchain (``#cgo``, ``//go:cgo_*``; the compiler refuses the latter outside cgo's own files too, see
    CVE-2023-39323). Only .go files can hold them: every other input of a C toolchain is refused by name.
    """
    for name, text in sorted(files.items()):
        if not name.endswith(".go"):
            continue
        if _C_TOOLCHAIN_DIRECTIVE.search(text):
            raise InvalidSource(f"{name}: a race build passes nothing to the C toolchain (#cgo and //go:cgo_ "
                                "directives are refused)")  # fmt: skip
        if imports_c(text):
            raise InvalidSource(f'{name}: cgo is not available (import "C"); a race build runs Go code only')


def imports_c(source: str) -> bool:
    """Whether a Go file's import declarations name the package "C" (comments and strings elsewhere do not count).

    >>> imports_c('package main\\n\\n// #include <stdio.h>\\nimport (\\n\\t"fmt"\\n\\t`C`\\n)\\n')
    True
    >>> imports_c('package main\\n\\nfunc main() { println("C") }\\n')
    False
    """
    tokens = [t for t in _GO_TOKEN.findall(source) if not t.startswith(("//", "/*"))]
    index = 2 if tokens[:1] == ["package"] else 0  # package NAME
    while index < len(tokens) and tokens[index] in (";", "import"):
        index += 1
        if tokens[index - 1] == ";":
            continue
        end = _import_end(tokens, index)
        if any(t in ('"C"', "`C`") for t in tokens[index : end + 1]):
            return True
        index = end + 1
    return False


def _import_end(tokens: list[str], start: int) -> int:
    """The last token of the import spec or group starting at ``start`` (after the word ``import``)."""
    if start >= len(tokens):
        return start
    if tokens[start] == "(":
        return tokens.index(")", start) if ")" in tokens[start:] else len(tokens) - 1
    named = not tokens[start].startswith(('"', "`"))  # import NAME "path", import . "path", import _ "path"
    return start + 1 if named else start


# --- reading reports ----------------------------------------------------------------------------


def parse_races(stderr: str, files: Mapping[str, str], *, tests: bool = False) -> list[Race]:
    """Every race report in a race build's ``stderr`` (at most :data:`MAX_RACES`), about the package ``files``;
    ``tests``: the binary is a test binary, so each race names the test it ran in."""
    names = _FileNames(files)
    races: list[Race] = []
    for block in _blocks(stderr):
        race = _parse_block(block, names, tests=tests)
        if race is not None and len(races) < MAX_RACES:
            races.append(race)
    return races


def race_message(races: list[Race], files: Mapping[str, str]) -> str:
    """The verdict's sentence, at the first line of each access in the submission's ``files``:
    ``data race: read at main.go:15 (goroutine 8), write at main.go:15 (goroutine 9)``."""
    if not races:
        return "data race: the race detector reported one (see stderr)"
    where = ", ".join(_access_words(access, files) for access in races[0].accesses)
    more = f"; {len(races) - 1} more" if len(races) > 1 else ""
    return f"data race: {where}{more}"


def _access_words(access: Access, files: Mapping[str, str]) -> str:
    own = [frame for frame in access.frames if frame.file in files]
    frames = own or access.frames
    at = f" at {frames[0].file}:{frames[0].line}" if frames else ""
    return f"{access.kind.value}{at} (goroutine {access.goroutine})"


class _FileNames:
    """Go's names for the submission's files (``sandbox/main.go`` under -trimpath) -> the submission's."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = files
        self.module = module_path(files.get("go.mod", ""))

    def of(self, printed: str) -> str:
        prefix = f"{self.module}/" if self.module else ""
        if prefix and printed.startswith(prefix) and printed[len(prefix) :] in self.files:
            return printed[len(prefix) :]
        return printed


def _blocks(stderr: str) -> list[list[str]]:
    """The lines of each report: from ``WARNING: DATA RACE`` to the closing separator (or the end)."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in stderr.splitlines():
        if line == _HEADER:
            current = []
            blocks.append(current)
        elif line == _SEPARATOR:
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def _parse_block(lines: list[str], names: _FileNames, *, tests: bool) -> Race | None:
    accesses: list[Access] = []
    created: list[Creation] = []
    frames: list[Frame] = []
    function: str | None = None
    for line in lines:
        if (access := _ACCESS.match(line)) is not None:
            frames, function = [], None
            goroutine = int(access[4]) if access[4] else _MAIN_GOROUTINE
            accesses.append(Access(AccessKind(access[2].lower()), goroutine, frames, previous=bool(access[1])))
        elif (creation := _CREATED.match(line)) is not None:
            frames, function = [], None
            created.append(Creation(int(creation[1]), frames))
        elif (called := _FUNCTION.match(line)) is not None:
            function = called[1]
        elif (position := _POSITION.match(line)) is not None and function is not None:
            if len(frames) < MAX_FRAMES:
                frames.append(Frame(function, names.of(position[1]), int(position[2])))
            function = None
    if not accesses:
        return None
    return Race(accesses, created, _test_of(accesses, created) if tests else None)


_TEST_FUNCTION = re.compile(r"\.(Test[A-Za-z0-9_]*|Fuzz[A-Za-z0-9_]*|Example[A-Za-z0-9_]*|Benchmark[A-Za-z0-9_]*)"
                            r"(?:\.|$)")  # fmt: skip


def _test_of(accesses: list[Access], created: list[Creation]) -> str | None:
    """The test (benchmark, fuzz target, example) whose stack a race's goroutines ran in or were started from."""
    for frames in [a.frames for a in accesses] + [c.frames for c in created]:
        for frame in frames:
            found = _TEST_FUNCTION.search(frame.function)
            if found is not None:
                return found[1]
    return None

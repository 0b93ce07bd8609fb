"""The compiler's assembly listing (``-gcflags=-S``) as functions of instructions, each with its source line.

The listing holds, per symbol, a header (``main.add STEXT nosplit size=4 ...``), then for code one line per
instruction ``\\t0x0000 00000 (example/main.go:11)\\tADDQ\\tBX, AX``, then a hex dump and relocations. Only
code symbols (``STEXT``) of the submission's own files are kept; an instruction inlined from another file
(the standard library's, say) keeps its text with no file or line. ``FUNCDATA`` and ``PCDATA`` are the
garbage collector's and the stack maps' tables, not instructions: they are left out, as Compiler Explorer does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

#: A symbol's header; code symbols are STEXT, every other kind (SRODATA, SDWARF...) is data.
_SYMBOL = re.compile(r"^(?P<name>\S+) (?P<kind>S[A-Z]+)\b")
_INSTRUCTION = re.compile(r"^\t0x[0-9a-f]+ \d+ \((?P<file>[^()]*?):(?P<line>\d{1,9})\)\t(?P<text>.*)$")
_TABLES = ("FUNCDATA", "PCDATA")
#: The most instructions a listing keeps (a 200-line program has ~4 000; a generated function can hold millions).
#: Past it the listing is cut (``truncated``): the answer, stored with its job, stays within a few MB.
MAX_INSTRUCTIONS = 20_000


@dataclass(frozen=True)
class Instruction:
    """One instruction; ``file`` and ``line`` are None when it comes from outside the submission's files."""

    file: str | None
    line: int | None
    text: str


@dataclass(frozen=True)
class AsmFunction:
    """A function's code (``function`` as the linker names it: ``main.add``, ``main.(*T).String``)."""

    function: str
    file: str
    line: int
    instructions: list[Instruction]


@dataclass(frozen=True)
class AsmSelection:
    """Which part of the listing a caller wants: one ``function`` (its full or short name), and/or the
    instructions on ``lines`` (first, last; inclusive) of ``file`` (None: of any file)."""

    function: str | None = None
    file: str | None = None
    lines: tuple[int, int] | None = None


class _Listing:
    """The parse's state: the function being read, and those read."""

    def __init__(self, own: Callable[[str], str | None]) -> None:
        self.own = own
        self.functions: list[AsmFunction] = []
        self.name: str | None = None
        self.instructions: list[Instruction] = []
        self.count = 0

    def close(self) -> None:
        """The current symbol ended: keep it if it is code whose first instruction is in the submission."""
        first = self.instructions[0] if self.instructions else None
        if self.name is not None and first is not None and first.file is not None and first.line is not None:
            self.functions.append(AsmFunction(self.name, first.file, first.line, self.instructions))
        self.name, self.instructions = None, []

    def read(self, line: str) -> None:
        symbol = _SYMBOL.match(line)
        if symbol is not None:
            self.close()
            self.name = symbol["name"] if symbol["kind"] == "STEXT" else None
            return
        instruction = _INSTRUCTION.match(line) if self.name is not None else None
        if instruction is None or instruction["text"].startswith(_TABLES):
            return
        own = self.own(instruction["file"])
        text = " ".join(instruction["text"].split("\t", 1))
        self.instructions.append(Instruction(own, int(instruction["line"]) if own else None, text))
        self.count += 1


def parse_assembly(output: str, own: Callable[[str], str | None]) -> tuple[list[AsmFunction], bool]:
    """The functions of the submission in the listing, in source order, and whether the listing was cut.

    ``own`` turns the compiler's file name into the submission's (None: not one of its files).
    """
    listing = _Listing(own)
    for line in output.splitlines():
        if listing.count >= MAX_INSTRUCTIONS:
            break
        listing.read(line)
    cut = listing.count >= MAX_INSTRUCTIONS
    listing.close()
    functions = sorted(listing.functions, key=lambda f: (f.file, f.line, f.function))
    return functions, cut


def is_listing_line(line: str) -> bool:
    """Whether an output line belongs to the listing (a symbol's header, an instruction, a dump, a relocation)."""
    return line.startswith("\t") or (_SYMBOL.match(line) is not None and " size=" in line)


def names_function(name: str, wanted: str) -> bool:
    """Whether ``wanted`` names the function ``name``: in full, or without its package path.

    >>> names_function("main.add", "add"), names_function("example.com/m/sub.Double", "sub.Double")
    (True, True)
    >>> names_function("main.add", "ad")
    False
    """
    return name == wanted or name.endswith(("." + wanted, "/" + wanted))


def select(functions: list[AsmFunction], selection: AsmSelection) -> list[AsmFunction]:
    """The functions (and, with ``lines``, only their instructions on those lines) the selection names."""
    chosen = [f for f in functions if selection.function is None or names_function(f.function, selection.function)]
    if selection.lines is None:
        return chosen
    first, last = selection.lines
    kept = []
    for function in chosen:
        instructions = [
            i
            for i in function.instructions
            if i.line is not None and first <= i.line <= last and selection.file in (None, i.file)
        ]
        if instructions:
            kept.append(replace(function, instructions=instructions))
    return kept

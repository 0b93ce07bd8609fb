"""An explain build's answer: the options that shape it, and its result read from the compiler's output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gosandbox.diagnostics import Diagnostic, parse_positions
from gosandbox.explain.assembly import AsmFunction, AsmSelection, is_listing_line, parse_assembly, select
from gosandbox.explain.decisions import (
    Decision,
    SourceNames,
    is_decision_line,
    merge,
    parse_json_records,
    parse_m_lines,
)
from gosandbox.models import Status, Timings
from gosandbox.toolchain import OUTPUT_CUT

#: The most compile output a failed explain returns (as much as a failed build's).
MAX_ERROR_OUTPUT_CHARS = 64 * 1024


@dataclass(frozen=True)
class ExplainOptions:
    """What to explain: the decisions always; the assembly unless ``assembly`` is False, narrowed to one
    ``function`` and/or the ``lines`` (first, last) of ``file``."""

    assembly: bool = True
    function: str | None = None
    file: str | None = None
    lines: tuple[int, int] | None = None

    def selection(self) -> AsmSelection:
        return AsmSelection(self.function, self.file, self.lines)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExplainOptions:
        """The options ``dataclasses.asdict`` stored (``lines`` a JSON list)."""
        lines = data.get("lines")
        first_last = (int(lines[0]), int(lines[1])) if lines else None
        return cls(bool(data.get("assembly", True)), data.get("function"), data.get("file"), first_last)


@dataclass(frozen=True)
class ExplainResult:
    """The compiler's decisions and assembly; ``status`` is compile_error (with ``diagnostics``) when the
    package does not compile. ``truncated``: the compiler said more than a caller is given (see the caps)."""

    status: Status
    decisions: list[Decision]
    assembly: list[AsmFunction]
    diagnostics: list[Diagnostic]
    compile_output: str
    truncated: bool
    timings_ms: Timings
    go_version: str


@dataclass(frozen=True)
class CompilerReport:
    decisions: list[Decision]
    assembly: list[AsmFunction]
    truncated: bool


def read_report(files: Mapping[str, str], output: str, records: Mapping[str, str],
                options: ExplainOptions) -> CompilerReport:  # fmt: skip
    """A successful explain build's output (-m lines, then the -S listing) and records, about ``files``."""
    names = SourceNames(files, files.get("go.mod", ""))
    decisions = merge(parse_json_records(records, names), parse_m_lines(output, names))
    functions, listing_cut = parse_assembly(output, names.own) if options.assembly else ([], False)
    return CompilerReport(decisions, select(functions, options.selection()), listing_cut or OUTPUT_CUT in output)


def compile_errors(output: str) -> tuple[str, list[Diagnostic]]:
    """A failed explain build's errors: its output without the decisions and the listing it also holds."""
    kept = [
        line
        for line in output.splitlines()
        if not is_listing_line(line) and not is_decision_line(line) and not line.startswith(OUTPUT_CUT)
    ]
    text = "\n".join(kept)[:MAX_ERROR_OUTPUT_CHARS]
    return text + "\n" if text else "", parse_positions(text)

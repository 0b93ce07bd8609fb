"""Compiler and vet messages as structured positions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# "./main.go:9:2: message" (go build), "main.go:9:2: message" (gofmt), "vet: ./main.go:..." (go vet
# on a package that does not type-check); the column is optional.
_POSITION = re.compile(
    r"^(?:vet: )?(?:\./)?(?P<file>[^\s:][^:]*?\.(?:go|s|mod))"
    r":(?P<line>\d{1,9})(?::(?P<column>\d{1,9}))?: (?P<message>.+)$"
)


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    column: int
    message: str
    analyzer: str | None = None


def parse_positions(text: str) -> list[Diagnostic]:
    """Every ``file:line:col: message`` line of compiler or gofmt output, in order."""
    found = []
    for line in text.splitlines():
        match = _POSITION.match(line.strip())
        if match:
            column = int(match["column"]) if match["column"] else 0
            found.append(Diagnostic(match["file"], int(match["line"]), column, match["message"]))
    return found


def _split_position(posn: str) -> tuple[str, int, int]:
    file, _, rest = posn.partition(":")
    line, _, column = rest.partition(":")
    return file.removeprefix("./"), _small_int(line), _small_int(column)


def _small_int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) <= 9 else 0


def parse_vet_json(text: str) -> list[Diagnostic]:
    """``go vet -json`` output: JSON objects {package: {analyzer: [{posn, message}]}} among other lines.

    The output can echo the program's own text (in type errors), so anything odd is skipped, never raised.
    """
    found: list[Diagnostic] = []
    decoder = json.JSONDecoder()
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except (ValueError, RecursionError):
            index = text.find("{", index + 1)
            continue
        found += _vet_findings(value)
        index = text.find("{", end)
    return found


def _vet_findings(value: object) -> list[Diagnostic]:
    found = []
    packages = value if isinstance(value, dict) else {}
    for analyzers in packages.values():
        for analyzer, findings in analyzers.items() if isinstance(analyzers, dict) else []:
            for finding in findings if isinstance(findings, list) else []:
                if isinstance(finding, dict):
                    file, line, column = _split_position(str(finding.get("posn", "")))
                    found.append(Diagnostic(file, line, column, str(finding.get("message", "")), str(analyzer)))
    return found

"""The txtar archive format of the Go Playground: ``-- name --`` lines start each file."""

from __future__ import annotations

import re

from gosandbox.errors import InvalidSource

_MARKER = re.compile(r"^-- (\S(?:.*\S)?) --$")


def looks_like_txtar(text: str) -> bool:
    return any(_MARKER.match(line) for line in text.splitlines())


def parse_txtar(text: str, preamble: str = "main.go") -> dict[str, str]:
    """Files of an archive; text before the first marker, if any, is ``preamble`` (the Playground's ``prog.go``)."""
    files: dict[str, str] = {}
    name, lines = preamble, []
    for line in text.splitlines(keepends=True):
        marker = _MARKER.match(line.rstrip("\r\n"))
        if marker is None:
            lines.append(line)
            continue
        _store(files, name, lines, preamble)
        name, lines = marker.group(1), []
    _store(files, name, lines, preamble)
    return files


def _store(files: dict[str, str], name: str, lines: list[str], preamble: str) -> None:
    content = "".join(lines)
    if name == preamble and preamble not in files and not content.strip():
        return  # an empty preamble is no file
    if name in files:
        raise InvalidSource(f"the archive holds {name[:60]!r} twice")
    files[name] = content

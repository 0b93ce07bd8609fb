"""The compiler's decisions about the submission's files, from its two records of one compile:

- ``-json=0,file:///DIR``: one file per source file, LSP-shaped lines ``{range, code, message}``: inlinability
  with its cost or reason, escapes, leaking parameters, the bounds and nil checks that remain, large copies.
- ``-m``: positioned lines ``file:line:col: message``, for what the JSON does not carry: which calls were
  inlined (``inlining call to f``), what does not escape, which variables moved to the heap.

Both are merged into :class:`Decision` values whose ``kind`` is one of :class:`DecisionKind`. Only positions in
the submission's own ``.go`` files are kept: the standard library's (inlined into the submission, or
instantiated generics) never appear. Positions are 1-based lines and columns, as the compiler writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from gosandbox.gotest import module_path


class DecisionKind(StrEnum):
    """The closed set of decision kinds; a compiler record none of them names is ``other``."""

    ESCAPES = "escapes"  # a value is allocated on the heap because it outlives its frame
    MOVED_TO_HEAP = "moved_to_heap"  # a variable lives on the heap (its address escapes)
    DOES_NOT_ESCAPE = "does_not_escape"  # a value or parameter stays on the stack
    LEAKING_PARAM = "leaking_param"  # a parameter's value flows to the heap or to a result
    CAN_INLINE = "can_inline"  # a function is small enough to inline (message: its cost)
    CANNOT_INLINE = "cannot_inline"  # a function is never inlined (message: the reason)
    INLINED_CALL = "inlined_call"  # this call was inlined
    CANNOT_INLINE_CALL = "cannot_inline_call"  # this call was not inlined (message: the reason)
    DEVIRTUALIZED = "devirtualized"  # an interface call became a direct call
    BOUNDS_CHECK = "bounds_check"  # an index or slice bounds check remains in the code
    BOUNDS_CHECK_ELIDED = "bounds_check_elided"  # an index bounds check the compiler proved unneeded
    NIL_CHECK = "nil_check"  # an explicit nil check remains in the code
    COPY = "copy"  # a large copy (memmove) of a value
    OTHER = "other"  # any other record: the message says what


@dataclass(frozen=True)
class Decision:
    """One decision about a place in the submission's ``file`` (end inclusive; the compiler marks points)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    kind: DecisionKind
    message: str


class SourceNames:
    """Turns the compiler's file names into the submission's, or None for any other file.

    With ``-trimpath`` the compiler names a file by its import path (``example.com/m/sub/x.go``); the go
    command names some by their directory (``./main.go``).
    """

    def __init__(self, files: Iterable[str], go_mod: str) -> None:
        self.go_files = frozenset(name for name in files if name.endswith(".go"))
        self.module = module_path(go_mod)

    def own(self, path: str) -> str | None:
        """The submission's name for ``path``, if it is one of its ``.go`` files.

        >>> SourceNames(["main.go", "sub/x.go"], "module example.com/m\\n").own("example.com/m/sub/x.go")
        'sub/x.go'
        >>> SourceNames(["main.go"], "module example.com/m\\n").own("fmt/print.go") is None
        True
        """
        name = path.removeprefix("file://").removeprefix("./")
        if self.module and name.startswith(self.module + "/"):
            name = name[len(self.module) + 1 :]
        return name if name in self.go_files else None


# --- the -json records ------------------------------------------------------------------------------------

#: The compiler's record codes (cmd/compile/internal/logopt callers) and the kind each is.
_JSON_KINDS = {
    "canInlineFunction": DecisionKind.CAN_INLINE,
    "cannotInlineFunction": DecisionKind.CANNOT_INLINE,
    "cannotInlineCall": DecisionKind.CANNOT_INLINE_CALL,
    "escape": DecisionKind.ESCAPES,
    "escapes": DecisionKind.ESCAPES,
    "leak": DecisionKind.LEAKING_PARAM,
    "isInBounds": DecisionKind.BOUNDS_CHECK,
    "isSliceInBounds": DecisionKind.BOUNDS_CHECK,
    "nilcheck": DecisionKind.NIL_CHECK,
    "copy": DecisionKind.COPY,
}


#: A record's words for a reader, by code: (with the record's message, without one). None: the record says
#: nothing a sibling does not (each heap allocation is recorded twice, once without words).
_WORDS: dict[str, tuple[str, str | None]] = {
    "canInlineFunction": ("can inline ({})", "can inline"),
    "cannotInlineFunction": ("cannot inline: {}", "cannot inline"),
    # A recursive call's reason lands in another field of the record, which the file does not hold.
    "cannotInlineCall": ("cannot inline this call: {}", "cannot inline this call"),
    "escape": ("{}", None),
    "escapes": ("{}", None),
    "leak": ("{}", "leaking param"),
    "isInBounds": ("index bounds check", "index bounds check"),
    "isSliceInBounds": ("slice bounds check", "slice bounds check"),
    "nilcheck": ("nil check", "nil check"),
    "copy": ("large copy: {}", "large copy"),
}


def _json_message(code: str, message: str) -> str | None:
    """The record's words for a reader; None for a record that says nothing a sibling does not."""
    with_message, without = _WORDS.get(code, (code + ": {}", code))
    return with_message.format(message) if message else without


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else None


def _record_decision(record: object, file: str) -> Decision | None:
    """One ``-json`` line's record as a decision, or None when it is not one (anything odd is skipped)."""
    if not isinstance(record, dict):
        return None
    code, message, where = record.get("code"), record.get("message", ""), record.get("range")
    if not isinstance(code, str) or not isinstance(message, str) or not isinstance(where, dict):
        return None
    start, end = where.get("start"), where.get("end")
    if not isinstance(start, dict) or not isinstance(end, dict):
        return None
    points = [_int(start.get("line")), _int(start.get("character")), _int(end.get("line")), _int(end.get("character"))]
    words = _json_message(code, message)
    if words is None or any(point is None for point in points):
        return None
    line, column, end_line, end_column = (point or 0 for point in points)
    return Decision(file, line, column, end_line, end_column, _JSON_KINDS.get(code, DecisionKind.OTHER), words)


def parse_json_records(files: Mapping[str, str], names: SourceNames) -> list[Decision]:
    """The decisions of the ``-json`` files (path -> text) about the submission's own files.

    Each file starts with a header naming its source file (``{"version":0,...,"file":"m/main.go"}``); a file
    about any other source (the standard library's, inlined or instantiated here) is skipped whole.
    """
    decisions = []
    for text in files.values():
        lines = text.splitlines()
        header = _loads(lines[0]) if lines else None
        source = header.get("file") if isinstance(header, dict) else None
        own = names.own(source) if isinstance(source, str) else None
        if own is None:
            continue
        for line in lines[1:]:
            decision = _record_decision(_loads(line), own)
            if decision is not None:
                decisions.append(decision)
    return decisions


def _loads(line: str) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None


# --- the -m diagnostics -----------------------------------------------------------------------------------

#: A compiler position line: ``file:line:col: message`` (file names as the compiler or go command writes them).
_M_LINE = re.compile(r"^(?P<file>[^\s:]+\.go):(?P<line>\d{1,9}):(?P<column>\d{1,9}): (?P<message>.+)$")

#: What each -m message says, tried in order (cmd/compile/internal/{inline,escape,devirtualize,walk}).
_M_KINDS = (
    (re.compile(r"^can inline \S"), DecisionKind.CAN_INLINE),
    (re.compile(r"^inlining call to \S"), DecisionKind.INLINED_CALL),
    (re.compile(r"^cannot inline \S"), DecisionKind.CANNOT_INLINE),
    (re.compile(r"^moved to heap: \S"), DecisionKind.MOVED_TO_HEAP),
    (re.compile(r"^leaking param(?: content)?: \S"), DecisionKind.LEAKING_PARAM),
    (re.compile(r"\S does not escape(?:, mutate, or call)?$"), DecisionKind.DOES_NOT_ESCAPE),
    (re.compile(r"\S escapes to heap$"), DecisionKind.ESCAPES),
    (re.compile(r"^(?:partially )?devirtualizing \S"), DecisionKind.DEVIRTUALIZED),
    (re.compile(r"^index bounds check elided$"), DecisionKind.BOUNDS_CHECK_ELIDED),
)


def m_kind(message: str) -> DecisionKind | None:
    """The kind of a ``-m`` message, or None for one that is no decision (an error, say).

    >>> m_kind("inlining call to add"), m_kind("moved to heap: x"), m_kind("declared and not used: x")
    (<DecisionKind.INLINED_CALL: 'inlined_call'>, <DecisionKind.MOVED_TO_HEAP: 'moved_to_heap'>, None)
    """
    for pattern, kind in _M_KINDS:
        if pattern.search(message):
            return kind
    return None


def parse_m_lines(output: str, names: SourceNames) -> list[Decision]:
    """The ``-m`` decisions in the compile's output about the submission's own files; other lines are skipped."""
    decisions = []
    for line in output.splitlines():
        match = _M_LINE.match(line)
        if match is None:
            continue
        own, kind = names.own(match["file"]), m_kind(match["message"])
        if own is not None and kind is not None:
            row, column = int(match["line"]), int(match["column"])
            decisions.append(Decision(own, row, column, row, column, kind, match["message"]))
    return decisions


def is_decision_line(line: str) -> bool:
    """Whether an output line is an ``-m`` decision (anywhere), not an error."""
    match = _M_LINE.match(line)
    return match is not None and m_kind(match["message"]) is not None


# --- one list -----------------------------------------------------------------------------------------------

_Key = tuple[str, int, int, DecisionKind]


def _key(decision: Decision) -> _Key:
    return decision.file, decision.line, decision.column, decision.kind


def _joined(decisions: list[Decision]) -> dict[_Key, Decision]:
    """One decision per place and kind; distinct messages joined (``s[i:j]`` has two slice checks)."""
    found: dict[_Key, Decision] = {}
    for decision in decisions:
        key = _key(decision)
        seen = found.get(key)
        if seen is None:
            found[key] = decision
        elif decision.message not in seen.message.split("; "):
            found[key] = replace(seen, message=f"{seen.message}; {decision.message}")
    return found


def merge(records: list[Decision], diagnostics: list[Decision]) -> list[Decision]:
    """The ``-json`` records and the ``-m`` diagnostics as one list, each fact once, in source order.

    Where both tell one fact, the ``-m`` words stand (they are what ``go build -gcflags=-m`` shows), with the
    record's inlining cost added. A variable ``-m`` says moved to the heap is not also listed as escaping.
    """
    from_json, from_m = _joined(records), _joined(diagnostics)
    moved = {key[:3] for key in from_m if key[3] is DecisionKind.MOVED_TO_HEAP}
    merged = dict(from_m)
    for key, record in from_json.items():
        told = merged.get(key)
        if told is None:
            if not (key[3] is DecisionKind.ESCAPES and key[:3] in moved):
                merged[key] = record
        elif key[3] is DecisionKind.CAN_INLINE and record.message.startswith("can inline ("):
            merged[key] = replace(told, message=f"{told.message} {record.message.removeprefix('can inline ')}")
    return sorted(merged.values(), key=lambda d: (d.file, d.line, d.column, d.kind.value))

"""A program's output as the job service keeps and shows it: text, stored once.

**The text form.** The output's bytes are decoded as UTF-8, a byte that is not UTF-8 becoming U+FFFD
(as :func:`gosandbox.runner.text` does); every other character, control characters included, is kept as
the program wrote it, so terminal colours, NUL and the rest reach a client exactly. JSON spells a control
character as a six-byte ``\\u00XX``: an answer is at most six times ``output_bytes`` plus its envelope
(the cap bounds it), and Judge0's ``base64_encoded=true`` carries the bytes in a third more. A form that
replaced control characters by pictures (three bytes each) was tried and left: it changed what programs
print (ANSI escapes, NUL) and could not be undone exactly for Base64 (a program may print a picture).

**Stored once.** A finished run's ``stdout``/``stderr`` events hold the same text as its result: they
are stored with their lengths only (``{"text_in_result": n}``), and the text is cut from the result
again when the submission is read (:func:`expand_events`). Where the events do not add up to the
result (a test's framed output, events lost in an outage), they are stored as they are.
"""

from __future__ import annotations

from typing import Any

STREAMS = ("stdout", "stderr")
#: The key of a stored output event that holds only its length in the result's text.
IN_RESULT = "text_in_result"


def _texts(events: list[dict[str, Any]], stream: str) -> str:
    return "".join(str(e.get("data", {}).get("text", "")) for e in events if e.get("event") == stream)


def compact_events(events: list[dict[str, Any]], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The events to store with a finished job: output events by length only where the result holds their text."""
    if result is None or not all(isinstance(result.get(s), str) for s in STREAMS):
        return events
    if any(_texts(events, stream) != result[stream] for stream in STREAMS):
        return events
    return [{**e, "data": {IN_RESULT: len(str(e.get("data", {}).get("text", "")))}} if e.get("event") in STREAMS else e
            for e in events]  # fmt: skip


def expand_events(events: list[dict[str, Any]], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Stored events with their output text again, cut from ``result`` (see :func:`compact_events`)."""
    if not any(IN_RESULT in e.get("data", {}) for e in events):
        return events
    cursors = dict.fromkeys(STREAMS, 0)
    expanded = []
    for stored in events:
        data, stream = stored.get("data", {}), str(stored.get("event"))
        if stream in cursors and IN_RESULT in data:
            start = cursors[stream]
            cursors[stream] = end = start + int(data[IN_RESULT])
            stored = {**stored, "data": {"text": str((result or {}).get(stream, ""))[start:end]}}  # noqa: PLW2901
        expanded.append(stored)
    return expanded

"""The program's output in the order it was written, as some foreign APIs show it (one stream, or events).

A job's result keeps stdout and stderr apart; its ``stdout``/``stderr`` events keep their order. The
order is trusted only when the events add up exactly to the result's two streams: an outage of the
event transport can lose some, and then it is not known.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: (stream, text): ``stream`` is stdout or stderr.
Chunk = tuple[str, str]
STREAMS = ("stdout", "stderr")


def ordered_chunks(chunks: Iterable[Chunk], result: dict[str, Any]) -> list[Chunk] | None:
    """The output chunks among ``chunks``, in order, if together they are exactly ``result``'s output; else None.

    >>> ordered_chunks([("stderr", "b"), ("stdout", "a")], {"stdout": "a", "stderr": "b"})
    [('stderr', 'b'), ('stdout', 'a')]
    >>> ordered_chunks([("stdout", "a")], {"stdout": "a", "stderr": "lost"}) is None
    True
    """
    kept = [(name, text) for name, text in chunks if name in STREAMS]
    for stream in STREAMS:
        if "".join(text for name, text in kept if name == stream) != (result.get(stream) or ""):
            return None
    return kept


def stored_chunks(events: Iterable[dict[str, Any]]) -> list[Chunk]:
    """The (name, text) of a finished submission's stored events."""
    return [(str(event.get("event")), str(event.get("data", {}).get("text", ""))) for event in events]

"""Bounded reading of a sandbox's output (a Docker stream, an OCI runtime's pipes), and the Go crash report in it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gosandbox.backends.base import OutputSink

# The first line of a Go crash report on stderr: a panic, a fatal error, or a signal the runtime did not recover.
_GO_CRASH = re.compile(rb"^(?:panic|fatal error|SIG[A-Z]+): [^\n]*", re.MULTILINE)
_CRASH_HEADER_CHARS = 120


def go_crash(stderr: bytes) -> str | None:
    """The first line of the Go crash report in ``stderr`` ("panic: boom"), or None if there is none.

    Here, below the verdict that words it, because the output cap's kill asks it too (``watch.stop_flood``).
    """
    found = _GO_CRASH.search(stderr)
    if found is None:
        return None
    return found.group().decode("utf-8", errors="replace")[:_CRASH_HEADER_CHARS]


@dataclass
class BoundedOutput:
    """Collect stdout and stderr up to ``cap_bytes`` in total; past it, call ``on_overflow`` once.

    ``on_output`` sees each kept chunk as it arrives (for live events).
    """

    cap_bytes: int
    on_overflow: Callable[[], None]
    on_output: OutputSink | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exceeded: bool = False

    def feed(self, chunks: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        for out, err in chunks:
            for name, data, buffer in (("stdout", out, self.stdout), ("stderr", err, self.stderr)):
                if data and not self._take(name, data, buffer):
                    return

    def _take(self, name: str, data: bytes, buffer: bytearray) -> bool:
        room = self.cap_bytes - len(self.stdout) - len(self.stderr)
        kept = data[: max(room, 0)]
        buffer += kept
        if kept and self.on_output is not None:
            self.on_output(name, kept)
        if len(data) > room:
            self.exceeded = True
            self.on_overflow()
            return False
        return True

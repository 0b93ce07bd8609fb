"""Bounded reading of a Docker exec stream."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gosandbox.backends.base import OutputSink


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

"""The program's output on our stdout and stderr as it is written: bytes unchanged, except that
positions in tool output (stack traces, t.Log lines) name the user's files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import BinaryIO

# A line longer than this is written without waiting for its end.
_MAX_PENDING_BYTES = 64 * 1024


def decoded(data: bytes) -> str:
    """Bytes as text that encodes back to the same bytes (undecodable ones kept as surrogates)."""
    return data.decode("utf-8", errors="surrogateescape")


def encoded(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


class LineWriter:
    """Writes a stream to ``out`` one whole line at a time, each line through ``transform``."""

    def __init__(self, out: BinaryIO, transform: Callable[[str], str]) -> None:
        self.out = out
        self.transform = transform
        self.pending = bytearray()

    def feed(self, data: bytes) -> None:
        self.pending += data
        end = self.pending.rfind(b"\n") + 1
        if end == 0 and len(self.pending) < _MAX_PENDING_BYTES:
            return
        end = end or len(self.pending)
        lines, self.pending = bytes(self.pending[:end]), self.pending[end:]
        self._write(lines)

    def close(self) -> None:
        if self.pending:
            self._write(bytes(self.pending))
            self.pending.clear()

    def _write(self, lines: bytes) -> None:
        self.out.write(encoded("".join(self.transform(line) for line in _split_lines(decoded(lines)))))
        self.out.flush()


def _split_lines(text: str) -> list[str]:
    """Lines with their newline; only "\\n" ends one (a "\\r" is the program's business)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


class RawWriter:
    """Writes a stream to ``out`` as it comes, byte for byte."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def feed(self, data: bytes) -> None:
        self.out.write(data)
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


class LiveOutput:
    """The sink of a run's output (``Observers.on_output``): stdout and stderr to their writers."""

    def __init__(self, stdout: LineWriter | RawWriter, stderr: LineWriter | RawWriter) -> None:
        self.writers = {"stdout": stdout, "stderr": stderr}
        self.lock = threading.Lock()

    def __call__(self, stream: str, data: bytes) -> None:
        with self.lock:
            self.writers[stream].feed(data)

    def close(self) -> None:
        with self.lock:
            for writer in self.writers.values():
                writer.close()

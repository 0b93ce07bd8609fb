"""gzip copies of the bundle's text files, made once per file and kept in memory.

The script is about half a megabyte as built and a third of that gzipped; a browser on a real
network should not wait for the difference. The copy is made on the first request that accepts
gzip (in a thread: tens of milliseconds for the script) and kept for as long as the file is the
same (name, size and modification time); one copy per name, so the memory is bounded by the bundle.
"""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

#: Worth compressing: text. Images and fonts are compressed already.
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".json", ".map", ".svg", ".txt"})
#: Below this, gzip's header costs more than it saves.
MIN_BYTES = 1024


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip (``gzip;q=0`` refuses it).

    >>> accepts_gzip("gzip, deflate, br"), accepts_gzip("br"), accepts_gzip("gzip;q=0"), accepts_gzip("*")
    (True, False, False, True)
    """
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def compressible(name: str, size: int) -> bool:
    return Path(name).suffix.lower() in COMPRESSIBLE and size >= MIN_BYTES


class GzipCopies:
    """The gzip copy of each file asked for, made again only when the file changes."""

    def __init__(self) -> None:
        self._copies: dict[str, tuple[tuple[int, int], bytes]] = {}
        self._lock = threading.Lock()

    def of(self, path: Path, stat: os.stat_result) -> bytes:
        """The file's bytes, gzipped (deterministic: no name, no time in the header). Call it in a thread."""
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._copies.get(path.name)
        if cached is not None and cached[0] == version:
            return cached[1]
        copy = gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)
        with self._lock:
            self._copies[path.name] = (version, copy)
        return copy

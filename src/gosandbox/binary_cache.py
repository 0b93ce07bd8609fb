"""Built binaries keyed by a hash of every build input, bounded in bytes (least recently used goes).

The cache lives in a directory only the server can write; no sandbox ever mounts it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from gosandbox import metrics


class BinaryCache:
    def __init__(self, directory: Path, *, max_bytes: int, build_identity: str) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        # Image id and build flags: anything besides the files that changes the binary.
        self.build_identity = build_identity
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)
        for leftover in directory.glob(".*.tmp"):  # a crash during put
            leftover.unlink(missing_ok=True)
        for path in sorted(directory.glob("*.bin"), key=lambda p: p.stat().st_mtime):
            self._sizes[path.stem] = path.stat().st_size
        self._evict()

    def key(self, files: dict[str, str], go_version: str, *, race: bool = False, tenant: str = "") -> str:
        """The files' binary's key; ``race``: built with the race detector (another builder, other flags);
        ``tenant`` (an API key's name, "" the keyless tenant): one tenant's binary is never another's hit, so the
        cache's speed tells no tenant what another one ran (issue 24)."""
        digest = hashlib.sha256()
        for part in (self.build_identity, go_version, *(["race"] if race else []), f"tenant={tenant}"):
            digest.update(part.encode() + b"\x00")
        for name in sorted(files):
            encoded = files[name].encode()
            digest.update(f"{name}\x00{len(encoded)}\x00".encode() + encoded)
        return digest.hexdigest()

    def get(self, key: str) -> bytes | None:
        binary = self._read(key)
        metrics.binary_cache_lookup(hit=binary is not None)
        return binary

    def _read(self, key: str) -> bytes | None:
        with self._lock:
            if key not in self._sizes:
                return None
            self._sizes.move_to_end(key)
        path = self.directory / f"{key}.bin"
        try:
            binary = path.read_bytes()
            os.utime(path)  # the LRU order survives a restart
        except FileNotFoundError:
            return None
        return binary

    def put(self, key: str, binary: bytes) -> None:
        if len(binary) > self.max_bytes:
            return
        tmp = self.directory / f".{key}.{threading.get_ident()}.tmp"
        tmp.write_bytes(binary)
        os.replace(tmp, self.directory / f"{key}.bin")
        with self._lock:
            self._sizes[key] = len(binary)
            self._sizes.move_to_end(key)
            self._evict()

    def _evict(self) -> None:
        total = sum(self._sizes.values())
        while total > self.max_bytes and self._sizes:
            old, size = self._sizes.popitem(last=False)
            total -= size
            (self.directory / f"{old}.bin").unlink(missing_ok=True)

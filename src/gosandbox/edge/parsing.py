"""Request bodies are read and validated before admission: at most N at once, the rest wait their turn.

Two sets of ``N = settings.parsing_slots()`` slots (the CPU count by default):

- *validating*: every JSON or text body is parsed into a job in one of them (the work that takes
  CPU and memory: a thread, pydantic). Bodies are held to a ceiling of JSON tokens first
  (:func:`gosandbox.edge.requests.check_json_size`), so one validation takes milliseconds.
- *reading*: a body larger than :data:`SMALL_BODY_BYTES` (declared so, or found so while reading)
  is read in full only in one of them. A small body is read without a slot: the usual request is
  a few KB, and a client that uploads a large body slowly holds a reading slot, never the
  validating ones, so it cannot stall the small requests behind it.

A body that waits longer than :data:`SLOT_WAIT_S` for a slot is answered ``429`` with
``Retry-After`` (the server is that saturated: each slot frees within milliseconds when bodies
arrive at loopback speed). A waiting body is not read: it stays in uvicorn's buffer (at most
64 KiB, then the socket is paused), so waiting costs no memory.

After large bodies, the C allocator keeps the freed memory (glibc grows its mmap threshold and its
per-thread arenas hold the pages): when the last validation ends, ``malloc_trim(0)`` hands it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import math
import sys
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request

from gosandbox.edge.requests import check_headers
from gosandbox.errors import Overloaded, PayloadTooLarge

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A body up to this size is read without a reading slot.
SMALL_BODY_BYTES = 64 * 1024
#: The longest a body waits for a slot before the answer is 429.
SLOT_WAIT_S = 5.0
#: After a body this large, the allocator is trimmed once no validation runs.
TRIM_AFTER_BYTES = 256 * 1024


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``; None elsewhere (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
    if trim is None:
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


@dataclass
class _Slots:
    reading: asyncio.Semaphore
    validating: asyncio.Semaphore


class ParsingGate:
    """The slots of one app; asyncio semaphores belong to a loop, so each loop gets its own (one in production)."""

    def __init__(self, slots: int, wait_s: float = SLOT_WAIT_S) -> None:
        self.slots, self.wait_s = slots, wait_s
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = weakref.WeakKeyDictionary()
        self.validating = 0  # bodies in a validating slot now, all loops
        self._large_since_trim = False
        self._trims: set[asyncio.Task[object]] = set()

    async def parse(self, request: Request, cap_bytes: int, prepare: Callable[[bytes], T]) -> T:
        """Read the body (at most ``cap_bytes``) and turn it into ``prepare``'s result, in a thread."""
        slots = self._slots()
        body = await self._read(request, cap_bytes, slots.reading)
        async with self._slot(slots.validating, "validated"):
            self.validating += 1
            self._large_since_trim |= len(body) >= TRIM_AFTER_BYTES
            try:
                return await asyncio.to_thread(prepare, body)
            finally:
                self.validating -= 1
                del body
                self._trim_when_idle()

    def _slots(self) -> _Slots:
        loop = asyncio.get_running_loop()
        slots = self._loops.get(loop)
        if slots is None:
            slots = self._loops[loop] = _Slots(asyncio.Semaphore(self.slots), asyncio.Semaphore(self.slots))
        return slots

    async def _read(self, request: Request, cap_bytes: int, reading: asyncio.Semaphore) -> bytes:
        declared = check_headers(request, cap_bytes)
        chunks, body = request.stream(), bytearray()
        small = declared is None or declared <= SMALL_BODY_BYTES
        try:
            if small and await _take(chunks, body, SMALL_BODY_BYTES, cap_bytes):
                return bytes(body)
            async with self._slot(reading, "read"):
                await _take(chunks, body, cap_bytes, cap_bytes)
                return bytes(body)
        finally:
            await chunks.aclose()

    @contextlib.asynccontextmanager
    async def _slot(self, semaphore: asyncio.Semaphore, doing: str) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(semaphore.acquire(), self.wait_s)
        except TimeoutError:
            raise Overloaded(
                f"{self.slots} request bodies are being {doing} now; this one waited {self.wait_s:g} s for its turn",
                retry_after_s=math.ceil(self.wait_s),
            ) from None
        try:
            yield
        finally:
            semaphore.release()

    def _trim_when_idle(self) -> None:
        if self.validating or not self._large_since_trim or _TRIM is None:
            return
        self._large_since_trim = False
        task = asyncio.create_task(asyncio.to_thread(_TRIM))
        self._trims.add(task)
        task.add_done_callback(self._trims.discard)


async def _take(chunks: AsyncIterator[bytes], body: bytearray, until: int, cap_bytes: int) -> bool:
    """Read into ``body`` until the stream ends (True) or it holds more than ``until`` bytes (False)."""
    async for chunk in chunks:
        body += chunk
        if len(body) > cap_bytes:
            raise PayloadTooLarge(f"the body is larger than {cap_bytes} bytes")
        if len(body) > until:
            return False
    return True

"""Stopping now: what a second SIGINT/SIGTERM during the graceful drain means to requests still in flight.

The first signal drains: the server takes no new connection, every running job finishes and is
answered. The second one sets :class:`Shutdown`: the running jobs' sandboxes are killed, every
waiting synchronous request answers 503 (its job is cancelled), a ``/submissions?wait=`` answers
with the submission as it stands, and event streams end; the drain then completes within moments.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

#: How often a waiting request looks at the flag.
POLL_S = 0.1


class StoppingNow(Exception):
    """Raised by :meth:`Shutdown.race` when the server stops now."""


class Shutdown:
    """The server's "stop now" flag: set once, from the event loop; read by every waiting request."""

    def __init__(self) -> None:
        self._now = threading.Event()  # not an asyncio.Event: a test's app may serve on several loops

    @property
    def now(self) -> bool:
        return self._now.is_set()

    def set(self) -> bool:
        """Set the flag; False if it was set already."""
        if self._now.is_set():
            return False
        self._now.set()
        return True

    async def race(self, awaitable: Awaitable[T]) -> T:
        """The awaitable's result, unless the server stops now first: then it is cancelled and
        :class:`StoppingNow` raised."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=POLL_S)
                if done:
                    return task.result()
                if self.now:
                    raise StoppingNow
        finally:
            task.cancel()

"""Admission control: at most N runs at once, a bounded queue behind them, 429 beyond it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gosandbox.errors import Overloaded


class Admission:
    def __init__(self, slots: int, queue: int, retry_after_s: int = 1) -> None:
        self.slots, self.queue, self.retry_after_s = slots, queue, retry_after_s
        self._semaphore = asyncio.Semaphore(slots)
        self.running = 0
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one run slot; raise :class:`Overloaded` when the queue is already full."""
        if self._semaphore.locked() and self.waiting >= self.queue:
            raise Overloaded(
                f"{self.running} runs in progress and {self.waiting} waiting (the queue holds {self.queue})",
                retry_after_s=self.retry_after_s,
            )
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._semaphore.release()

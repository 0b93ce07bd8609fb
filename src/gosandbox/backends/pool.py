"""Run sandboxes started ahead of need, for either backend. Each is handed out once, then destroyed, never reused.

A pre-started sandbox stops by itself when its lease ends unclaimed (its first process exits), so the pool
renews every idle sandbox once it reaches ``max_age_s`` (half the lease) and never hands out an older one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

_RETRY_AFTER_FAILURE_S = 2.0


class Aging(Protocol):
    """A sandbox as the pool sees it: when its start was asked for (time.monotonic())."""

    @property
    def started(self) -> float: ...


Sandbox = TypeVar("Sandbox", bound=Aging)


class SandboxPool(Generic[Sandbox]):
    """Keep ``size`` idle sandboxes ready; refill in the background after each hand-out, renew the old ones.

    With ``size=0`` every run starts its own sandbox on demand (slower, least memory).
    """

    def __init__(
        self,
        create: Callable[[], Sandbox],
        destroy: Callable[[Sandbox], None],
        size: int,
        max_age_s: float = float("inf"),
    ) -> None:
        self._create, self._destroy, self.size, self.max_age_s = create, destroy, size, max_age_s
        self._ready: deque[Sandbox] = deque()  # oldest first
        self._expired: list[Sandbox] = []  # taken out of _ready, for the refill thread to destroy
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._refill_forever, name="sandbox-pool", daemon=True)
        if size > 0:
            self._thread.start()

    def acquire(self) -> Sandbox:
        """A fresh sandbox: a pre-started one when one is ready and young enough, else one started now."""
        with self._cond:
            while self._ready:
                sandbox = self._ready.popleft()
                self._cond.notify_all()
                if self._young(sandbox, time.monotonic()):
                    return sandbox
                self._expired.append(sandbox)
        return self._create()

    def _young(self, sandbox: Sandbox, now: float) -> bool:
        return now - sandbox.started < self.max_age_s

    def discard_idle(self) -> None:
        """Destroy the idle sandboxes (they may be dead); the refill starts new ones."""
        with self._cond:
            idle, self._ready = list(self._ready), deque()
            self._cond.notify_all()
        for sandbox in idle:
            self._destroy(sandbox)

    def ready_count(self) -> int:
        with self._cond:
            return len(self._ready)

    def _refill_forever(self) -> None:
        while (expired := self._wait_for_work()) is not None:
            for sandbox in expired:
                self._destroy(sandbox)
            with self._cond:
                short = len(self._ready) < self.size
            if short:
                self._refill_one()

    def _wait_for_work(self) -> list[Sandbox] | None:
        """Wait until a sandbox is missing or too old; return the too-old ones (no longer idle), None once closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._ready and not self._young(self._ready[0], now):
                    self._expired.append(self._ready.popleft())
                if self._expired or len(self._ready) < self.size:
                    expired, self._expired = self._expired, []
                    return expired
                # Wake when the oldest is due for renewal (without a lease, once a minute: wait() wants finite).
                self._cond.wait(min(self._ready[0].started + self.max_age_s - now, 60.0))
            return None

    def _refill_one(self) -> None:
        try:
            sandbox = self._create()
        except Exception as exc:  # the refill thread must outlive any failure (disk full, engine down)
            logger.warning("could not pre-start a run sandbox: %s", exc)
            with self._cond:
                self._cond.wait(_RETRY_AFTER_FAILURE_S)
            return
        with self._cond:
            if not self._closed:
                self._ready.append(sandbox)
                return
        self._destroy(sandbox)

    def close(self) -> None:
        """Stop refilling and destroy every idle sandbox."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        with self._cond:
            idle, self._ready, self._expired = [*self._ready, *self._expired], deque(), []
        for sandbox in idle:
            self._destroy(sandbox)

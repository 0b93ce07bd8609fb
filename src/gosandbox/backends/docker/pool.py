"""Run sandboxes started ahead of need. Each is handed out once, then destroyed, never reused."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gosandbox.limits import Limits

logger = logging.getLogger(__name__)

_RETRY_AFTER_FAILURE_S = 2.0


@dataclass(frozen=True)
class RunSandbox:
    """A started, idle run container and the host directory mounted read-only at /sandbox."""

    container_id: str
    host_dir: Path
    limits: Limits


class SandboxPool:
    """Keep ``size`` idle sandboxes ready; refill in the background after each hand-out.

    With ``size=0`` every run starts its own sandbox on demand (slower, least memory).
    """

    def __init__(self, create: Callable[[], RunSandbox], destroy: Callable[[RunSandbox], None], size: int) -> None:
        self._create, self._destroy, self.size = create, destroy, size
        self._ready: deque[RunSandbox] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._refill_forever, name="sandbox-pool", daemon=True)
        if size > 0:
            self._thread.start()

    def acquire(self) -> RunSandbox:
        """A fresh sandbox: a pre-started one when ready, else one started now."""
        with self._cond:
            if self._ready:
                sandbox = self._ready.popleft()
                self._cond.notify_all()
                return sandbox
        return self._create()

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
        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self.size:
                    self._cond.wait()
                if self._closed:
                    return
            self._refill_one()

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
            idle, self._ready = list(self._ready), deque()
        for sandbox in idle:
            self._destroy(sandbox)

"""Logs stay bounded under abuse: the same warning at most N times a minute, then a count."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_WINDOW_S = 60.0


class RepeatLimiter(logging.Filter):
    """Lets through at most ``max_repeats`` records per minute of one logger, level and message
    template (warnings and worse; quieter records pass). The first one let through after a quiet
    spell says how many like it were dropped.
    """

    def __init__(self, max_repeats: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.max_repeats = max_repeats
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int, int]] = {}  # -> window start, let through, dropped
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self._clock()
        with self._lock:
            started, passed, dropped = self._seen.get(key, (now, 0, 0))
            if now - started >= _WINDOW_S:
                started, passed = now, 0
            if passed >= self.max_repeats:
                self._seen[key] = (started, passed, dropped + 1)
                return False
            self._seen[key] = (started, passed + 1, 0)
            if len(self._seen) > 10_000:  # a flood of distinct messages must not grow this without end
                self._seen.clear()
        if dropped:
            record.msg = f"{record.msg} [{dropped} more like this were not logged]"
        return True


_SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def limit_repeats(max_repeats: int, logger_names: tuple[str, ...] = _SERVER_LOGGERS) -> None:
    """Put one :class:`RepeatLimiter` on every handler of these loggers (the root is "")."""
    limiter = RepeatLimiter(max_repeats)
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(limiter)

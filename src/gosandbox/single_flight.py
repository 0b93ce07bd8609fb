"""One call per key in flight: callers of a key whose call is under way wait for it and share its result.

The runner builds through it, keyed by the binary cache's key, so that a batch of one source (Judge0's
``test_cases``, N submissions of one program) compiles once, not once per job that starts before the first
build ends.

>>> flights: SingleFlight[int] = SingleFlight()
>>> flights.do("k", lambda: 42)
(42, False)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """Go's ``singleflight.Group``: :meth:`do` runs ``call`` unless one of the same key is running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def do(self, key: str, call: Callable[[], T]) -> tuple[T, bool]:
        """``call``'s result, and whether it was another caller's (this one waited for it); its error is raised
        to every caller that waited for it, as to the one that ran it."""
        with self._lock:
            running = self._calls.get(key)
            if running is None:
                mine = self._calls[key] = _Call()
        if running is not None:
            running.done.wait()
            if running.error is not None:
                raise running.error
            return cast(T, running.result), True
        try:
            mine.result = call()
        except BaseException as exc:
            mine.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            mine.done.set()
        return mine.result, False

"""Fairness between tenants (API keys, and the keyless tenant as one more): which waiting job starts next.

The policy, in one place for both modes:

- **A cap while others wait.** A tenant running ``cap`` jobs or more starts no other while another
  tenant below its cap has a job waiting. A tenant alone may use every slot (no slot stays idle
  for a tenant that is not there); a newcomer then waits for the first of the running jobs to end
  (running jobs are never stopped for it).
- **Round robin.** Among the tenants that may start one, the one running the fewest goes first, and
  of those the one that started a job least recently (a tenant that never did, first).

``cap``: ``GOSANDBOX_MAX_RUNNING_PER_KEY``, or half the run slots rounded up (:func:`running_cap`).
The server's own slots take jobs from a :class:`FairQueue` (exact round robin); workers on Redis
take them in the queue's order, and each asks :class:`gosandbox.jobs.redis_fairness.RedisFairness`
whether its tenant may start one now (the cap; a job refused goes to the back of the queue).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

#: A tenant's name in the fairness structures: its API key's name, or "" for the keyless tenant
#: (key names are 1-64 characters: none is empty).
Tenant = str
KEYLESS_TENANT: Tenant = ""

T = TypeVar("T")


def tenant_of(key_name: str | None) -> Tenant:
    """The tenant of a submission owned by the API key ``key_name`` (None: keyless)."""
    return KEYLESS_TENANT if key_name is None else key_name


def running_cap(setting: int, slots: int) -> int:
    """The most jobs one tenant runs while another waits: ``setting``, or (0) half of ``slots`` rounded up.

    >>> running_cap(0, 2), running_cap(0, 5), running_cap(3, 8), running_cap(0, 0)
    (1, 3, 3, 1)
    """
    return setting if setting > 0 else max(1, math.ceil(slots / 2))


def may_start(waiting: Iterable[Tenant], running: Mapping[Tenant, int], cap: int) -> set[Tenant]:
    """The tenants among ``waiting`` (those with a job waiting) whose next job may start now.

    Those below ``cap``; if none is, every waiting tenant (a free slot never stays idle).

    >>> sorted(may_start(["a", "b"], {"a": 2}, cap=1)), sorted(may_start(["a"], {"a": 2}, cap=1))
    (['b'], ['a'])
    """
    tenants = set(waiting)
    below = {t for t in tenants if running.get(t, 0) < cap}
    return below or tenants


def next_tenant(waiting: Iterable[Tenant], running: Mapping[Tenant, int], last_start: Mapping[Tenant, int],
                cap: int) -> Tenant | None:  # fmt: skip
    """Whose job starts next: of :func:`may_start`'s tenants, the one running fewest, then the one that started
    a job least recently (``last_start``: an increasing stamp; absent: never), then the first in ``waiting``.

    >>> next_tenant(["a", "b"], {"a": 1, "b": 1}, {"a": 7, "b": 3}, cap=2)
    'b'
    >>> next_tenant(["a", "b"], {"a": 2}, {"a": 9}, cap=5) is None, next_tenant([], {}, {}, cap=1)
    (False, None)
    """
    order = list(dict.fromkeys(waiting))
    allowed = may_start(order, running, cap)
    candidates = [t for t in order if t in allowed]
    if not candidates:
        return None
    return min(candidates, key=lambda t: (running.get(t, 0), last_start.get(t, -1), order.index(t)))


@dataclass
class _Held(Generic[T]):
    tenant: Tenant
    item: T


@dataclass
class FairQueue(Generic[T]):
    """The server's own run slots' queue: per-tenant FIFOs, taken by :func:`next_tenant`.

    ``take`` blocks until a job may start, or returns None once the queue is closed; the taker calls
    ``done`` with the tenant when that job ends. Thread-safe.
    """

    cap: int
    _queues: dict[Tenant, deque[T]] = field(default_factory=dict)
    _running: Counter[Tenant] = field(default_factory=Counter)
    _last: dict[Tenant, int] = field(default_factory=dict)
    _stamps: itertools.count[int] = field(default_factory=itertools.count)
    _ready: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    def put(self, tenant: Tenant, item: T) -> None:
        with self._ready:
            self._queues.setdefault(tenant, deque()).append(item)
            self._ready.notify()

    def take(self) -> _Held[T] | None:
        with self._ready:
            while True:
                if self._closed:
                    return None
                tenant = next_tenant(self._queues, self._running, self._last, self.cap)
                if tenant is not None:
                    return self._start(tenant)
                self._ready.wait()

    def _start(self, tenant: Tenant) -> _Held[T]:
        queue = self._queues[tenant]
        item = queue.popleft()
        if not queue:
            del self._queues[tenant]
        self._running[tenant] += 1
        self._last[tenant] = next(self._stamps)
        return _Held(tenant, item)

    def done(self, tenant: Tenant) -> None:
        with self._ready:
            self._running[tenant] -= 1
            if self._running[tenant] <= 0:
                del self._running[tenant]
                if tenant not in self._queues:  # gone: forgotten (a tenant that comes back is a newcomer)
                    self._last.pop(tenant, None)
            self._ready.notify()

    def close(self) -> list[T]:
        """Wake every taker (each gets None) and return what was still waiting."""
        with self._ready:
            self._closed = True
            left = [item for queue in self._queues.values() for item in queue]
            self._queues.clear()
            self._ready.notify_all()
        return left

    def waiting(self) -> int:
        with self._ready:
            return sum(len(q) for q in self._queues.values())

    def running(self, tenant: Tenant) -> int:
        with self._ready:
            return self._running.get(tenant, 0)

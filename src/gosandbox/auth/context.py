"""The API key of the request being served, for the edges (routes, request parsers, ``/mcp``).

The middleware (:mod:`gosandbox.auth.middleware`) sets it for the duration of one request; it
follows the request into ``asyncio.to_thread`` (which copies the context), so the request parsers
and any mounted app (``/mcp``) see it without a parameter threaded through each call. Outside a
request, or with ``GOSANDBOX_AUTH=off``, there is none and nothing changes.

The job layer never reads it: an edge passes what the job service needs of the caller, its
:func:`current_owner` and its :func:`batch_charge`, as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from gosandbox import metrics
from gosandbox.auth.keys import ApiKey
from gosandbox.auth.ratelimit import Decision, Limiter, retry_after_s
from gosandbox.errors import AboveKeyCap, RateLimited
from gosandbox.jobs.submission import KEYLESS, Owner
from gosandbox.limits import Bounds, Limits
from gosandbox.settings import Settings


@dataclass
class Principal:
    """An authenticated request: its key, its limiter, and the latest state of its bucket (for the headers)."""

    key: ApiKey
    limiter: Limiter = field(repr=False)
    decision: Decision

    def charge(self, cost: int) -> None:
        """Take ``cost`` more units (a batch's items past the first); :class:`RateLimited` when they are not there.

        Blocking with the Redis limiter: call it from a thread, as the job service's methods run.
        """
        if cost <= 0:
            return
        self.decision = take_or_refuse(self.limiter, self.key, cost)


_CURRENT: ContextVar[Principal | None] = ContextVar("gosandbox_principal", default=None)


@contextmanager
def serving(principal: Principal) -> Iterator[None]:
    """The request being served is ``principal``'s, until the block ends."""
    token = _CURRENT.set(principal)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> Principal | None:
    return _CURRENT.get()


def current_owner() -> Owner:
    """Whom what the request stores belongs to, and what it may read: its API key (an admin key may read
    every key's), or the keyless tenant."""
    principal = _CURRENT.get()
    return Owner(principal.key.name, admin=principal.key.admin) if principal is not None else KEYLESS


def take_or_refuse(limiter: Limiter, key: ApiKey, cost: int) -> Decision:
    """Take ``cost`` units, or count the refusal and raise it (the middleware answers refusals itself)."""
    decision = limiter.take(key, cost)
    if not decision.allowed:
        count_refusal(key)
        raise refusal(key, decision, cost)
    return decision


def count_refusal(key: ApiKey) -> None:
    metrics.rate_limit_refused(key.name)


def refusal(key: ApiKey, decision: Decision, cost: int) -> RateLimited:
    wait_s = retry_after_s(key, decision, cost)
    if decision.refused == "daily":
        detail = f"API key {key.name!r} has spent its daily quota of {key.daily} (it resets at 00:00 UTC)"
    else:
        detail = f"API key {key.name!r} sends faster than its rate of {key.rate_per_s:g}/s (burst {key.burst})"
    return RateLimited(detail, retry_after_s=wait_s)


# --- the key's limit caps -------------------------------------------------------------------------


def _check_key_caps(key: ApiKey, requested: dict[str, float | int]) -> None:
    for name, cap in (("wall_s", key.max_wall_s), ("memory_mb", key.max_memory_mb)):
        value = requested.get(name)
        if cap is not None and isinstance(value, (int, float)) and value > cap:
            raise AboveKeyCap(f"limits.{name}={value:g} is above the cap of API key {key.name!r}: max_{name}={cap:g}")


def request_bounds(settings: Settings) -> Bounds:
    """The server's limit bounds, lowered to the current key's caps (see :mod:`gosandbox.limits`)."""
    principal = _CURRENT.get()
    if principal is None:
        return settings.limit_bounds()
    return settings.limit_bounds().lowered(wall_s=principal.key.max_wall_s, memory_mb=principal.key.max_memory_mb)


def request_limits(settings: Settings, requested: dict[str, float | int]) -> Limits:
    """A request's limits: the server's defaults and caps, lowered to the current key's caps.

    Asking for more than the key's cap is refused (:class:`AboveKeyCap`, naming it); asking nothing
    gets the server's default, or the key's cap where that is lower.
    """
    principal = _CURRENT.get()
    if principal is not None:
        _check_key_caps(principal.key, requested)
    return request_bounds(settings).resolve(requested)


def request_defaults(settings: Settings) -> Limits:
    """The limits of a request that asks none (plain text, an empty body), under the current key's caps."""
    return request_bounds(settings).defaults


def request_caps(settings: Settings) -> Limits:
    """The most a request may ask: the server's caps, lowered to the current key's."""
    return request_bounds(settings).caps


def batch_charge() -> Callable[[int], None]:
    """What a batch of the request being served costs, for :meth:`gosandbox.jobs.service.JobService.submit_many`:
    ``items`` jobs count ``items`` units of its key (the middleware took one already); free without a key."""
    principal = _CURRENT.get()
    return _free if principal is None else lambda items: _charge_batch(principal, items)


def _free(items: int) -> None:
    del items


def _charge_batch(principal: Principal, items: int) -> None:
    key = principal.key
    most = min(key.burst, key.daily) if key.daily else key.burst
    if items > most:  # it would wait for ever: a bucket never holds more than its burst
        raise AboveKeyCap(f"a batch of {items} is more than API key {key.name!r} can ever take at once ({most}): "
                          f"send batches of at most {most}")  # fmt: skip
    principal.charge(items - 1)

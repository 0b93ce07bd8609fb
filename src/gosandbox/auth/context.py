"""The API key of the request being served, for the layers below the HTTP edge.

The middleware (:mod:`gosandbox.auth.middleware`) sets it for the duration of one request; it
follows the request into ``asyncio.to_thread`` (which copies the context), so the request parsers,
the job service and any mounted app (``/mcp``) see it without a parameter threaded through each
call. Outside a request, or with ``GOSANDBOX_AUTH=off``, there is none and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from gosandbox import metrics
from gosandbox.auth.keys import ApiKey
from gosandbox.auth.ratelimit import Decision, Limiter, retry_after_s
from gosandbox.errors import AboveKeyCap, RateLimited
from gosandbox.limits import Limits, clamp_to_caps, resolve_limits
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


def current_key_name() -> str | None:
    principal = _CURRENT.get()
    return principal.key.name if principal is not None else None


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


def _key_caps(key: ApiKey, caps: Limits) -> Limits:
    wall_s = caps.wall_s if key.max_wall_s is None else min(caps.wall_s, key.max_wall_s)
    memory_mb = caps.memory_mb if key.max_memory_mb is None else min(caps.memory_mb, key.max_memory_mb)
    return replace(caps, wall_s=wall_s, memory_mb=memory_mb)


def _check_key_caps(key: ApiKey, requested: dict[str, float | int]) -> None:
    for name, cap in (("wall_s", key.max_wall_s), ("memory_mb", key.max_memory_mb)):
        value = requested.get(name)
        if cap is not None and isinstance(value, (int, float)) and value > cap:
            raise AboveKeyCap(f"limits.{name}={value:g} is above the cap of API key {key.name!r}: max_{name}={cap:g}")


def request_limits(settings: Settings, requested: dict[str, float | int]) -> Limits:
    """A request's limits: the server's defaults and caps, lowered to the current key's caps.

    Asking for more than the key's cap is refused (:class:`AboveKeyCap`, naming it); asking nothing
    gets the server's default, or the key's cap where that is lower.
    """
    principal = _CURRENT.get()
    if principal is None:
        return settings.limits_for(requested)
    _check_key_caps(principal.key, requested)
    caps = _key_caps(principal.key, settings.limit_caps())
    return resolve_limits(requested, settings.default_limits(), caps)


def request_defaults(settings: Settings) -> Limits:
    """The limits of a request that asks none (plain text, an empty body), under the current key's caps."""
    principal = _CURRENT.get()
    if principal is None:
        return settings.default_limits()
    return clamp_to_caps(settings.default_limits(), _key_caps(principal.key, settings.limit_caps()))


def request_caps(settings: Settings) -> Limits:
    """The most a request may ask: the server's caps, lowered to the current key's."""
    principal = _CURRENT.get()
    if principal is None:
        return settings.limit_caps()
    return _key_caps(principal.key, settings.limit_caps())


def charge_batch(items: int) -> None:
    """A batch of ``items`` jobs counts ``items`` units; the middleware took one already."""
    principal = _CURRENT.get()
    if principal is None:
        return
    key = principal.key
    most = min(key.burst, key.daily) if key.daily else key.burst
    if items > most:  # it would wait for ever: a bucket never holds more than its burst
        raise AboveKeyCap(f"a batch of {items} is more than API key {key.name!r} can ever take at once ({most}): "
                          f"send batches of at most {most}")  # fmt: skip
    principal.charge(items - 1)

"""Resource limits of one run, and the bounds they are checked against: the one place both are decided.

What a run gets when it asks nothing (:data:`DEFAULTS`), the most a server lets it ask unless its
settings say otherwise (:data:`DEFAULT_CAPS`), the least (:data:`MINIMUMS`), and how a request's
values are resolved within them (:class:`Bounds`). The settings (``GOSANDBOX_DEFAULT_*``,
``GOSANDBOX_MAX_*``) start from these values; an API key's caps lower a server's bounds through
:meth:`Bounds.lowered`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from gosandbox.errors import LimitOutOfRange


@dataclass(frozen=True)
class Limits:
    """What one run may use. Every field is enforced by the sandbox, not trusted to the program."""

    wall_s: float = 5.0
    memory_mb: int = 128
    cpus: float = 1.0
    pids: int = 64
    output_bytes: int = 64 * 1024
    #: CPU time of all the program's processes (user + system); None: none but what wall_s and cpus allow.
    #: As a cap, None is that too: ``wall_s * cpus`` (see :func:`cap_of`).
    cpu_ms: int | None = None


#: What a run gets when it asks nothing, unless the server's settings say otherwise.
DEFAULTS = Limits()

#: The largest values a server accepts unless its settings say otherwise: as many CPUs as the machine has.
DEFAULT_CAPS = Limits(wall_s=30.0, memory_mb=1024, cpus=float(os.cpu_count() or 1), pids=256, output_bytes=1024 * 1024)

#: Below these a Go program cannot even start, so smaller requests are refused.
MINIMUMS = Limits(wall_s=0.1, memory_mb=16, cpus=0.1, pids=8, output_bytes=1, cpu_ms=10)


def cap_of(caps: Limits, name: str) -> float | int:
    """The cap on limit ``name``; an unset ``cpu_ms`` cap is the CPU time ``wall_s`` and ``cpus`` allow."""
    if name == "cpu_ms" and caps.cpu_ms is None:
        return round(caps.wall_s * caps.cpus * 1000)
    value: float | int = getattr(caps, name)
    return value


def resolve_limits(requested: Mapping[str, float | int | None], defaults: Limits, caps: Limits) -> Limits:
    """Apply a request's limit overrides to the defaults, refusing values outside [minimum, cap].

    >>> resolve_limits({"wall_s": 2}, DEFAULTS, DEFAULT_CAPS).wall_s
    2
    """
    known = {f.name for f in fields(Limits)}
    unknown = sorted(set(requested) - known)
    if unknown:
        names = ", ".join(name[:40] for name in unknown[:5])
        raise LimitOutOfRange(f"unknown limit(s): {names}; known: {', '.join(sorted(known))}")
    asked = {name: value for name, value in requested.items() if value is not None}  # None: an optional one unset
    for name, value in asked.items():
        low, high = getattr(MINIMUMS, name), cap_of(caps, name)
        if not low <= value <= high:
            shown = str(value) if len(str(value)) <= 20 else str(value)[:16] + "…"
            raise LimitOutOfRange(f"limits.{name}={shown} is outside the allowed range [{low}, {high}]")
    merged: dict[str, Any] = {**asdict(defaults), **asked}
    return clamp_to_caps(Limits(**merged), caps)


def clamp_to_caps(limits: Limits, caps: Limits) -> Limits:
    """Lower any default that exceeds a cap (a server configured with defaults above its caps); unset stays unset."""
    lowered: dict[str, Any] = {}
    for f in fields(Limits):
        value = getattr(limits, f.name)
        lowered[f.name] = None if value is None else min(value, cap_of(caps, f.name))
    return Limits(**lowered)


@dataclass(frozen=True)
class Bounds:
    """What a request may ask: the limits of one that asks none, and the most it may ask (defaults within caps).

    >>> Bounds.of(Limits(wall_s=60.0), DEFAULT_CAPS).defaults.wall_s  # a default above its cap is lowered
    30.0
    >>> Bounds.of(DEFAULTS, DEFAULT_CAPS).lowered(wall_s=2.0).resolve({}).wall_s
    2.0
    """

    defaults: Limits
    caps: Limits

    @classmethod
    def of(cls, defaults: Limits, caps: Limits) -> Bounds:
        return cls(clamp_to_caps(defaults, caps), caps)

    def resolve(self, requested: Mapping[str, float | int | None]) -> Limits:
        """A request's limit overrides over the defaults, each within [minimum, cap] (see :func:`resolve_limits`)."""
        return resolve_limits(requested, self.defaults, self.caps)

    def lowered(self, *, wall_s: float | None = None, memory_mb: int | None = None) -> Bounds:
        """These bounds under more caps (an API key's; None: no cap of its own): the defaults follow them down."""
        caps = replace(
            self.caps,
            wall_s=self.caps.wall_s if wall_s is None else min(self.caps.wall_s, wall_s),
            memory_mb=self.caps.memory_mb if memory_mb is None else min(self.caps.memory_mb, memory_mb),
        )
        return Bounds.of(self.defaults, caps)

"""Resource limits of one run, and the server caps they are checked against."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
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


#: The largest values a server accepts unless its settings say otherwise.
DEFAULT_CAPS = Limits(wall_s=30.0, memory_mb=1024, cpus=2.0, pids=256, output_bytes=1024 * 1024)

#: Below these a Go program cannot even start, so smaller requests are refused.
MINIMUMS = Limits(wall_s=0.1, memory_mb=16, cpus=0.1, pids=8, output_bytes=1)


def resolve_limits(requested: dict[str, float | int], defaults: Limits, caps: Limits) -> Limits:
    """Apply a request's limit overrides to the defaults, refusing values outside [minimum, cap].

    >>> resolve_limits({"wall_s": 2}, Limits(), DEFAULT_CAPS).wall_s
    2
    """
    known = {f.name for f in fields(Limits)}
    unknown = sorted(set(requested) - known)
    if unknown:
        names = ", ".join(name[:40] for name in unknown[:5])
        raise LimitOutOfRange(f"unknown limit(s): {names}; known: {', '.join(sorted(known))}")
    for name, value in requested.items():
        low, high = getattr(MINIMUMS, name), getattr(caps, name)
        if not low <= value <= high:
            shown = str(value) if len(str(value)) <= 20 else str(value)[:16] + "…"
            raise LimitOutOfRange(f"limits.{name}={shown} is outside the allowed range [{low}, {high}]")
    merged: dict[str, Any] = {**asdict(defaults), **requested}
    return clamp_to_caps(Limits(**merged), caps)


def clamp_to_caps(limits: Limits, caps: Limits) -> Limits:
    """Lower any default that exceeds a cap (a server configured with defaults above its caps)."""
    return Limits(**{f.name: min(getattr(limits, f.name), getattr(caps, f.name)) for f in fields(Limits)})

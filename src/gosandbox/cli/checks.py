"""What one of ``gosandbox doctor``'s checks found: :mod:`gosandbox.cli.doctor` and
:mod:`gosandbox.cli.runtimes` make them, ``gosandbox doctor`` prints them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """``name``: what was checked; ``ok``; ``detail``: what was found; ``fix``: how to mend it when not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

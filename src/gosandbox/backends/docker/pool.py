"""The Docker backend's run sandboxes started ahead of need (``backends/pool.py`` keeps them ready)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from gosandbox.limits import Limits


@dataclass(frozen=True)
class RunSandbox:
    """A started, idle run container and the host directory mounted read-only at /sandbox."""

    container_id: str
    host_dir: Path
    limits: Limits
    #: time.monotonic() when its start was asked for (its lease began later).
    started: float = field(default_factory=time.monotonic)

"""The hardening every sandbox gets. Loosening a field is explicit and logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

logger = logging.getLogger(__name__)

#: Non-root ids inside the images. PID 1 of a run sandbox runs as another uid than the
#: program, so the program can neither signal nor trace it.
BUILDER_UID = 10001
PROGRAM_UID = 10002
INIT_UID = 10003
#: Host tasks gVisor runs in a sandbox's cgroup beside the program (its Sentry, Gofer and ptrace stubs: ~33 for a
#: sleeping program, ~3 per guest process), added to the pids limit under runsc by both backends.
RUNSC_PIDS_OVERHEAD = 128


@dataclass(frozen=True)
class Policy:
    """Isolation settings shared by the build and run sandboxes."""

    network_enabled: bool = False
    read_only_root: bool = True
    drop_all_capabilities: bool = True
    no_new_privileges: bool = True
    runtime: str = "runc"
    tmpfs_mb: int = 64
    shm_mb: int = 16
    nofile: int = 256
    fsize_mb: int = 128  # above tmpfs_mb: a full /tmp says "no space left on device"
    seccomp_profile: str | None = None  # the profile's JSON text (the engine API wants text, not a path)

    def loosened(self, **changes: object) -> Policy:
        """Return a copy with some fields changed, logging every weaker setting."""
        weaker = [name for name in changes if name in _SECURITY_FIELDS and changes[name] != getattr(self, name)]
        for name in weaker:
            verb = "changed" if name == "runtime" else "loosened"  # runsc -> runc weakens; runc -> runsc does not
            logger.warning("sandbox policy %s: %s=%r", verb, name, changes[name])
        return replace(self, **changes)  # type: ignore[arg-type]


_SECURITY_FIELDS = {f.name for f in fields(Policy)} - {"tmpfs_mb", "shm_mb", "nofile", "fsize_mb"}

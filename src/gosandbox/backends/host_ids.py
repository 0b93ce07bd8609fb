"""The host ids of runc sandboxes: a range of 65536 host ids per slot, a slot held by one sandbox at a time.

Slot ``n``'s ids are the host's ``HOST_ID_BASE + n * 65536 + id``. Slots are taken on the whole host (every
gosandbox instance, every process, both backends) by an exclusive ``flock`` on ``/run/gosandbox/userns/<n>.lock``:
the lowest free slot, held while its sandbox exists and freed after its deletion (or by the kernel when the
holder dies). An OCI sandbox maps the whole range into a user namespace of its own (``oci/userns.py``); a Docker
sandbox under runc, which shares the engine's users, runs its program as the slot's host id of ``PROGRAM_UID``
(``docker/backend.py``). Either way, no two sandboxes at once share a host uid, nor the kernel's per-user
counts (``fs.inotify.max_user_instances``, RLIMIT_NPROC) that go with it.

The range (``0x70000000`` up, 1024 slots: 1879048192 to 1946157055) is outside what useradd gives
as subordinate ids (100000 up to 600100000 by default), the normal and system users and systemd's
container ranges (524288 to 1879048191); :func:`check_host_range` refuses a host whose
``/etc/subuid``, ``/etc/subgid``, users or groups name an id inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from gosandbox.errors import BackendUnavailable, SandboxFailure

HOST_ID_BASE = 0x7000_0000
IDS_PER_SANDBOX = 65536
SLOTS = 1024
LOCK_DIR = Path("/run/gosandbox/userns")


@dataclass(frozen=True)
class IdRange:
    """One sandbox's host ids: inside id ``n`` is host id ``host_base + n``."""

    host_base: int
    size: int = IDS_PER_SANDBOX

    def host_id(self, inside: int) -> int:
        return self.host_base + inside


def slot_range(slot: int) -> IdRange:
    return IdRange(HOST_ID_BASE + slot * IDS_PER_SANDBOX)


def host_range() -> range:
    """Every host id a sandbox's user namespace may map."""
    return range(HOST_ID_BASE, HOST_ID_BASE + SLOTS * IDS_PER_SANDBOX)


def take_slot() -> tuple[int, int]:
    """The lowest free slot on this host and the descriptor whose lock holds it."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    for slot in range(SLOTS):
        fd = os.open(LOCK_DIR / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise SandboxFailure(f"all {SLOTS} host id ranges of runc sandboxes are in use on this host")


@functools.cache
def check_host_range() -> None:
    """Refuse a host where an id of :func:`host_range` is already someone's (subordinate ids, users, groups)."""
    ids = host_range()
    taken = [f"user {entry.pw_name}" for entry in pwd.getpwall() if entry.pw_uid in ids]
    taken += [f"group {entry.gr_name}" for entry in grp.getgrall() if entry.gr_gid in ids]
    for table in (Path("/etc/subuid"), Path("/etc/subgid")):
        taken += [f"{table}: {line}" for line in _subordinate_overlaps(table, ids)]
    if taken:
        raise BackendUnavailable(
            f"the host ids {ids.start}-{ids.stop - 1} of runc sandboxes' user namespaces are in use: "
            + "; ".join(taken[:3]),
            hint="move those ids, or set GOSANDBOX_RUNTIME=runsc",
        )


def _subordinate_overlaps(table: Path, ids: range) -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        found = []
        for line in table.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.strip().split(":")
            if len(fields) != 3 or not fields[1].isdigit() or not fields[2].isdigit():
                continue
            start, count = int(fields[1]), int(fields[2])
            if start < ids.stop and ids.start < start + count:
                found.append(line.strip())
        return found
    return []

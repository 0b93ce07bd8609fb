"""Each runc sandbox's own user namespace, owned by a host uid range of its own.

A sandbox's ids 0..65535 are the host's ``HOST_ID_BASE + slot * 65536 + id``: the program (10002
inside) is an unprivileged host uid of that range, and a kernel bug that escapes the other
namespaces lands there, as nobody. Slots are taken on the whole host (every gosandbox instance,
every process) by an exclusive ``flock`` on ``/run/gosandbox/userns/<slot>.lock``: the lowest free
slot, held while the sandbox exists and freed after its deletion (or by the kernel when the holder
dies; its watcher kills the sandbox then).

The namespace is made by a process running as the range's first host uid (``unshare --user``), not
by runc as root: the kernel charges per-user counts (``fs.inotify.max_user_instances``,
RLIMIT_NPROC) to the namespace's owner on the host as well, so a namespace owned by root would make
every sandbox share root's counts (measured here: a second sandbox got 8 inotify instances of 128
while the first held 120). Owned by its own uid, each sandbox has the host's per-user limits to
itself. runc joins the namespace by its path; the holder ends when :meth:`UserNamespace.close`
closes its stdin.

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
import logging
import os
import pwd
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gosandbox.errors import BackendUnavailable, SandboxFailure

HOST_ID_BASE = 0x7000_0000
IDS_PER_SANDBOX = 65536
SLOTS = 1024
LOCK_DIR = Path("/run/gosandbox/userns")
_READY_TIMEOUT_S = 5.0
_POLL_S = 0.0002
_RETRY_AHEAD_S = 5.0

logger = logging.getLogger(__name__)


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


class UserNamespace:
    """A fresh user namespace on a free slot's range, held by a process of ours until :meth:`close`."""

    def __init__(self, ids: IdRange, lock_fd: int, holder: subprocess.Popen[bytes]) -> None:
        self.ids, self._lock_fd, self._holder = ids, lock_fd, holder

    @property
    def path(self) -> str:
        """What runc joins (``linux.namespaces[].path``)."""
        return f"/proc/{self._holder.pid}/ns/user"

    @classmethod
    def open(cls) -> UserNamespace:
        slot, lock_fd = _take_slot()
        try:
            ids = slot_range(slot)
            holder = _spawn_holder(ids)
        except BaseException:
            os.close(lock_fd)
            raise
        namespace = cls(ids, lock_fd, holder)
        try:
            namespace._map_ids()
        except BaseException:
            namespace.close()
            raise
        return namespace

    def _map_ids(self) -> None:
        """Wait until the holder is in its own namespace, then map the range (once, by root)."""
        ours = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while _namespace_of(self._holder.pid) in (ours, None):
            if self._holder.poll() is not None or time.monotonic() > deadline:
                raise BackendUnavailable(
                    "cannot create a user namespace for a runc sandbox",
                    hint="allow user namespaces (sysctl user.max_user_namespaces > 0), or set GOSANDBOX_RUNTIME=runsc",
                )
            time.sleep(_POLL_S)
        mapping = f"0 {self.ids.host_base} {self.ids.size}\n"
        for name in ("uid_map", "gid_map"):
            Path(f"/proc/{self._holder.pid}/{name}").write_text(mapping, encoding="ascii")

    def close(self) -> None:
        """End the holder (the sandbox, deleted before, no longer needs it) and free the slot."""
        try:
            if self._holder.stdin is not None:
                self._holder.stdin.close()
            try:
                self._holder.wait(timeout=_READY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()
        finally:
            os.close(self._lock_fd)


def _namespace_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return None


def _take_slot() -> tuple[int, int]:
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


def _spawn_holder(ids: IdRange) -> subprocess.Popen[bytes]:
    """``unshare --user cat`` as the range's first host uid, without groups: the namespace's owner is that uid."""
    unshare, cat = shutil.which("unshare"), shutil.which("cat")
    if unshare is None or cat is None:
        raise BackendUnavailable("unshare(1) or cat(1) is missing", hint="apt-get install util-linux coreutils")
    owner = ids.host_base
    return subprocess.Popen(  # noqa: S603 - fixed system binaries, our own arguments
        [unshare, "--user", "--", cat],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=owner,
        group=owner,
        extra_groups=[],
        close_fds=True,
        cwd="/",
    )


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


class NamespacesAhead:
    """User namespaces made ahead of need by a thread of their own, each taken by one sandbox only.

    Making one costs ~11 ms (measured here: ``unshare`` started as the slot's uid, its maps written), on
    the path of every run unless it is made before the run asks. ``depth`` wait ready, each holding its
    slot; :meth:`take` makes one at once when none is ready. :meth:`close` ends those not taken.
    """

    def __init__(self, depth: int = 2) -> None:
        self._ready: queue.SimpleQueue[UserNamespace] = queue.SimpleQueue()
        self._wanted = threading.Semaphore(depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="oci-userns-ahead", daemon=True)
        self._thread.start()

    def take(self) -> UserNamespace:
        try:
            namespace = self._ready.get_nowait()
        except queue.Empty:
            return UserNamespace.open()
        self._wanted.release()  # make the next one
        return namespace

    def _fill(self) -> None:
        while True:
            self._wanted.acquire()
            if self._closed.is_set():
                return
            try:
                namespace = UserNamespace.open()
            except Exception:  # the run that needs one makes it itself and reports why
                logger.warning("could not make a user namespace ahead of need", exc_info=True)
                self._closed.wait(_RETRY_AHEAD_S)
                self._wanted.release()
                continue
            self._ready.put(namespace)
            if self._closed.is_set():
                self._drain()
                return

    def close(self) -> None:
        """Stop making namespaces and end the ready ones (those taken are their sandboxes')."""
        self._closed.set()
        self._wanted.release()
        self._thread.join(_READY_TIMEOUT_S)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                self._ready.get_nowait().close()
            except queue.Empty:
                return

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
closes its stdin. The ranges and their slots: ``backends/host_ids.py``.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

from gosandbox.backends.host_ids import (
    IdRange,
    slot_range,
    take_slot,
)
from gosandbox.errors import BackendUnavailable

_READY_TIMEOUT_S = 5.0
_POLL_S = 0.0002
_RETRY_AHEAD_S = 5.0

logger = logging.getLogger(__name__)


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
        slot, lock_fd = take_slot()
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

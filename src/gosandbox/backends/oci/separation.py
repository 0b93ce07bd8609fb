"""What one runc sandbox has of its own beside its namespaces: a view of the root filesystem and a user namespace.

Under runc every sandbox is a process tree of the host's kernel: whatever the kernel keys by inode
(``flock``, leases, inotify watches) or by user (``fs.inotify.max_user_instances``, RLIMIT_NPROC)
would be shared by sandboxes that share inodes or host uids, a channel between tenants' programs.
So each sandbox gets its own overlay of the shared root (``rootfs.mount_view``) and its own user
namespace on a host uid range no other sandbox uses meanwhile (``userns.py``). gVisor's sandboxes
need neither: the Sentry keeps the files, locks and counts of its own kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gosandbox.backends.oci.rootfs import VIEWS_DIR, mount_view, unmount_view, unmount_views
from gosandbox.backends.oci.spec import UserNamespaceShape
from gosandbox.backends.oci.userns import NamespacesAhead, UserNamespace


@dataclass(frozen=True)
class Separation:
    """One sandbox's root view (its mount point) and user namespace, both released by :meth:`close`."""

    view: Path
    userns: UserNamespace

    @classmethod
    def open(cls, rootfs: Path, instance: str, sandbox_id: str, namespaces: NamespacesAhead) -> Separation:
        """Mount the sandbox's view (~0.2 ms) and take a user namespace made ahead (made now if none is ready)."""
        view = views_of(instance) / sandbox_id
        mount_view(rootfs, view)
        try:
            return cls(view, namespaces.take())
        except BaseException:
            unmount_view(view)
            raise

    @property
    def userns_shape(self) -> UserNamespaceShape:
        ids = self.userns.ids
        return UserNamespaceShape(self.userns.path, ids.host_base, ids.size)

    def close(self) -> None:
        """After the sandbox's deletion: nothing of it uses the view or the namespace any more."""
        try:
            self.userns.close()
        finally:
            unmount_view(self.view)


def views_of(instance: str) -> Path:
    """The directory of one instance's root views (the instance is one path segment, checked by the backend)."""
    return VIEWS_DIR / instance


def remove_leftover_views(instance: str) -> None:
    """Unmount the views a crashed predecessor of ``instance`` left (its sandboxes are gone by then)."""
    unmount_views(views_of(instance))

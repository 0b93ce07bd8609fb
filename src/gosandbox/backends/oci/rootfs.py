"""The run image's root filesystem, unpacked once per image id into the state directory, shared read-only.

Every OCI sandbox's read-only root is the same directory, so unpacking costs once per image, not per
run; under runc each sandbox sees it through an overlay of its own (:func:`mount_view`), so that no
inode, and no lock on one, is shared between sandboxes (gVisor's Sentry keeps its own file objects).
The tree is written to a temporary directory beside its final place and renamed there in one step:
a reader sees a whole tree or none, and a crash mid-way leaves only a temporary directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import docker

from gosandbox.backends.docker.errors import docker_errors

logger = logging.getLogger(__name__)

_UNPACKING_PREFIX = ".unpacking-"


def rootfs_for(client: docker.DockerClient, image: str, oci_dir: Path) -> Path:
    """The unpacked root filesystem of ``image`` under ``oci_dir/rootfs/<image id>``; unpacked now if absent."""
    with docker_errors(f"inspecting {image}"):
        image_id = str(client.images.get(image).id).removeprefix("sha256:")
    parent = oci_dir / "rootfs"
    target = parent / image_id
    if target.is_dir():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o755)
    work = Path(tempfile.mkdtemp(dir=parent, prefix=_UNPACKING_PREFIX))
    try:
        _export_into(client, image, work)
        work.chmod(0o755)  # mkdtemp made it 0700: every sandbox's processes must traverse their root
        try:
            work.rename(target)
        except OSError:  # another process unpacked it first: theirs is as good
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("unpacked %s into %s", image, target)
    return target


def remove_unfinished(oci_dir: Path) -> None:
    """Remove what a crash mid-unpack left (only temporary directories; finished trees stay)."""
    for leftover in (oci_dir / "rootfs").glob(f"{_UNPACKING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _export_into(client: docker.DockerClient, image: str, work: Path) -> None:
    """A created, never started container's filesystem, as the engine exports it, extracted into ``work``."""
    with docker_errors(f"exporting {image}"):
        container = client.api.create_container(image, labels={"gosandbox.role": "rootfs-export"})
        try:
            with (
                _ChunkReader(client.api.export(container["Id"])) as stream,
                tarfile.open(fileobj=stream, mode="r|") as tar,
            ):
                tar.extractall(work, filter=RootfsFilter(), numeric_owner=True)  # noqa: S202 - checked members
        finally:
            client.api.remove_container(container["Id"], force=True)


class UnsafeImageMember(tarfile.FilterError):
    """A member a run image's root filesystem has no use for, refused rather than unpacked as root."""

    def __init__(self, member: tarfile.TarInfo, why: str) -> None:
        super().__init__(f"{member.name!r}: {why}")
        self.tarinfo = member


class RootfsFilter:
    """Our own image, but this process is root: only what a run image holds is unpacked, and only inside the tree.

    Regular files, directories and symbolic links; no device node, fifo or hard link. No member is
    written beneath a symbolic link of the archive (so that no bug of tarfile's own path checks can
    make one lead out of the tree), and no setuid or setgid bit survives. The other mode bits stay as
    the image has them (unlike tarfile's "tar" filter): runc gives a tmpfs the mode of the directory it
    covers, so /tmp must stay 1777.
    """

    def __init__(self) -> None:
        self._links: set[str] = set()

    def __call__(self, member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
        if not (member.isreg() or member.isdir() or member.issym()):
            raise UnsafeImageMember(member, "not a regular file, directory or symbolic link")
        name = os.path.normpath(member.name.lstrip("/"))
        parts = name.split("/")
        if any("/".join(parts[:depth]) in self._links for depth in range(1, len(parts))):
            raise UnsafeImageMember(member, "beneath a symbolic link of the image")
        checked = tarfile.tar_filter(member, destination)  # still: nothing absolute, nothing outside the tree
        if member.issym():
            self._links.add(name)
        return checked.replace(mode=member.mode & ~(stat.S_ISUID | stat.S_ISGID), deep=False)


class _ChunkReader:
    """A file-like reader over the engine's chunk stream, for tarfile's streaming mode."""

    def __init__(self, chunks: Iterator[bytes] | Any) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def __enter__(self) -> IO[bytes]:
        return self  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


#: Where each runc sandbox's own view of the root filesystem is mounted: ``<VIEWS_DIR>/<instance>/<sandbox id>``.
#: Outside the state directory, whose parents may be closed to the sandbox's mapped root (runc mounts the
#: root from inside the sandbox's user namespace, and traverses the path as that unprivileged host uid).
VIEWS_DIR = Path("/run/gosandbox/rootfs")
_MS_RDONLY, _MS_NOSUID, _MS_NODEV = 0x1, 0x2, 0x4
_MNT_DETACH = 0x2
_libc = ctypes.CDLL(None, use_errno=True)


def mount_view(rootfs: Path, mountpoint: Path) -> None:
    """A read-only overlay of ``rootfs`` at ``mountpoint`` (made here): the sandbox's own inodes.

    Two sandboxes mounting the same tree by a bind would share its inodes, and with them ``flock``s,
    leases and inotify watches (a channel between runs); an overlay is a file system of its own, with
    its own inodes over the same files, and costs one mount (no copy: it has no upper layer). Its second
    lower layer is an empty directory: an overlay without an upper layer needs two.
    """
    for directory in (VIEWS_DIR.parent, VIEWS_DIR, mountpoint.parent):  # traversable whatever the umask
        directory.mkdir(exist_ok=True)
        directory.chmod(0o711)
    empty = VIEWS_DIR / ".empty"
    empty.mkdir(mode=0o755, exist_ok=True)
    mountpoint.mkdir(mode=0o711)
    options = f"lowerdir={_escape(rootfs)}:{_escape(empty)}".encode()
    flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV
    if _libc.mount(b"overlay", bytes(mountpoint), b"overlay", flags, options) != 0:
        error = ctypes.get_errno()
        mountpoint.rmdir()
        raise OSError(error, f"mounting the root view at {mountpoint}: {os.strerror(error)}")


def unmount_view(mountpoint: Path) -> None:
    """Detach the view (if mounted) and remove its mount point; a view already gone is no error."""
    _libc.umount2(bytes(mountpoint), _MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        mountpoint.rmdir()


def unmount_views(parent: Path) -> None:
    """Every view under ``parent`` (what a crashed predecessor of an instance left), and ``parent`` itself."""
    if not parent.is_dir():
        return
    for mountpoint in parent.iterdir():
        unmount_view(mountpoint)
    with contextlib.suppress(OSError):
        parent.rmdir()


def _escape(path: Path) -> str:
    """A path as an overlay option value: its separators ``,`` and ``:`` (and ``\\``) escaped."""
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")

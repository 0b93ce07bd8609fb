"""One run's OCI bundle: ``config.json`` from the policy (``spec.oci_config``) and the ``/sandbox`` directory.

A bundle lives under ``<state_dir>/oci/bundles/<instance>/<id>``: ``config.json``, the runtime's
JSON log, and ``sandbox/`` (the binary, its stdin and any package files), bound read-only at
``/sandbox``. The root filesystem is the shared unpacked image, never copied.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gosandbox.backends.base import ExecJob
from gosandbox.backends.docker.backend import program_environment
from gosandbox.backends.oci.spec import OciShape, oci_config
from gosandbox.backends.oci.usage import cgroups_path
from gosandbox.policy import PROGRAM_UID, Policy
from gosandbox.source import check_file_name, check_no_file_is_a_directory

#: RLIMIT_CPU past the wall-clock limit: the server's kill comes first; this holds when the server is gone.
CPU_BACKSTOP_GRACE_S = 2.0


@dataclass(frozen=True)
class Bundle:
    """Where one run's files are on the host."""

    directory: Path
    sandbox_id: str

    @property
    def sandbox_dir(self) -> Path:
        return self.directory / "sandbox"

    @property
    def stdin(self) -> Path:
        return self.sandbox_dir / "stdin"

    @property
    def runtime_log(self) -> Path:
        return self.directory / "runtime.log"


@dataclass(frozen=True)
class BundlePlace:
    """What every bundle of one backend shares: the rootfs, the instance, the policy."""

    rootfs: Path
    instance: str
    policy: Policy
    runtime: str


def write_bundle(place: BundlePlace, bundle: Bundle, job: ExecJob) -> None:
    """Write ``config.json`` and hand the program over; the directory must not exist yet."""
    bundle.directory.mkdir(mode=0o700)
    bundle.sandbox_dir.mkdir(mode=0o755)
    _hand_over(bundle.sandbox_dir, job)
    config = oci_config(_shape(place, bundle, job), place.policy)
    (bundle.directory / "config.json").write_text(json.dumps(config), encoding="utf-8")


def _shape(place: BundlePlace, bundle: Bundle, job: ExecJob) -> OciShape:
    limits = job.limits
    return OciShape(
        rootfs=str(place.rootfs),
        args=["/sandbox/prog", *job.args],
        env=program_environment(limits),
        cwd="/sandbox/pkg" if job.package_files else "/tmp",
        uid=PROGRAM_UID,
        gid=PROGRAM_UID,
        memory_mb=limits.memory_mb,
        cpus=limits.cpus,
        pids=limits.pids,  # the spec adds gVisor's own host tasks under runsc (RUNSC_PIDS_OVERHEAD)
        tmpfs_mb=place.policy.tmpfs_mb,
        # CPU time of all threads counts: a program busy on every CPU it has reaches wall_s * cpus.
        cpu_time_limit_s=math.ceil((limits.wall_s + CPU_BACKSTOP_GRACE_S) * max(1.0, limits.cpus)),
        cgroups_path=cgroups_path(place.instance, bundle.sandbox_id),
        binds={str(bundle.sandbox_dir): "/sandbox"},
    )


def _hand_over(sandbox_dir: Path, job: ExecJob) -> None:
    """The binary, stdin and package files, as the Docker backend lays them out at /sandbox.

    Every file is created afresh (``O_EXCL``, ``O_NOFOLLOW``) with a fixed mode, whatever the umask:
    root-owned, readable, writable by no one else.
    """
    _write_new(sandbox_dir / "prog", job.binary, 0o755)
    _write_new(sandbox_dir / "stdin", job.stdin, 0o644)
    _write_package(sandbox_dir / "pkg", job.package_files)


def _write_package(pkg_dir: Path, files: Mapping[str, str]) -> None:
    """The package's files under ``pkg_dir``, their names checked again here.

    This process is root and writes where a name says: a name that did not come through
    ``source.check_files`` (a library caller, a queue message) must not reach outside the bundle.
    """
    check_no_file_is_a_directory(files)
    for name in files:
        check_file_name(name)
    for name, text in files.items():
        *directories, base = name.split("/")
        place = pkg_dir
        place.mkdir(mode=0o755, exist_ok=True)
        for directory in directories:  # one by one: mkdir's implicit parents would get the umask's mode
            place = place / directory
            place.mkdir(mode=0o755, exist_ok=True)
        _write_new(place / base, text.encode("utf-8"), 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(descriptor, mode)  # the umask may have taken bits away
        file.write(data)

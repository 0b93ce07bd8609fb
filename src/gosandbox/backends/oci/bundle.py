"""One run's OCI bundle: ``config.json`` from the policy (``spec.oci_config``) and the ``/sandbox`` directory.

A bundle lives under ``<state_dir>/oci/bundles/<instance>/<id>``: ``config.json``, the runtime's
JSON log, and ``sandbox/`` (the binary, its stdin and any package files), bound read-only at
``/sandbox``. The root filesystem is the shared unpacked image, never copied (under runc, seen through an
overlay of the sandbox's own: ``separation.py``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from gosandbox.backends.base import ExecJob
from gosandbox.backends.docker.images import AGENT
from gosandbox.backends.handover import PROGRAM_PATH, SANDBOX_DIR, hand_over, program_environment, working_dir
from gosandbox.backends.oci.separation import Separation
from gosandbox.backends.oci.spec import OciShape, oci_config, process_rlimits
from gosandbox.backends.oci.usage import cgroups_path
from gosandbox.backends.supervisor import SUPERVISOR_CAPABILITIES, series_args, supervisor_args
from gosandbox.limits import Limits
from gosandbox.policy import INIT_UID, PROGRAM_UID, Policy

#: The FIFO of a series sandbox's supervisor's lines under runc, in the hand-over directory.
SERIES_REPORT = "report"
#: A series supervisor's own tasks (its Go runtime's threads, the cleaner) above the program's pids limit.
SERIES_SUPERVISOR_PIDS = 32
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


def write_bundle(
    place: BundlePlace, bundle: Bundle, job: ExecJob, separation: Separation | None = None
) -> dict[str, int] | None:
    """Write ``config.json`` and hand the program over; the directory must not exist yet.

    With a ``separation`` (runc) the sandbox's root is its own view and it joins its own user namespace;
    the rlimits its config then cannot carry are returned, for the runtime to apply (``OciRuntime.run``).
    """
    _make_directories(bundle)
    hand_over(bundle.sandbox_dir, job)
    # Under runsc the first process is the program's supervisor, which counts what the cgroup cannot tell apart
    # from gVisor's own use (backends/supervisor.py); under runc it is the program itself.
    supervised = place.runtime == "runsc"
    first = _First(_first_args(job, supervised), working_dir(job), supervised)
    return _write_config(place, bundle, job.limits, first, separation)


def write_ahead_bundle(
    place: BundlePlace, bundle: Bundle, limits: Limits, lease_s: float, separation: Separation | None
) -> dict[str, int] | None:
    """A bundle for a sandbox created ahead of its run (``ahead.py``): its first process waits to be launched.

    ``/sandbox`` is empty until the run hands its files over; the sandbox is sized for ``limits`` exactly.
    """
    _make_directories(bundle)
    args = [AGENT, "launch", f"--lease={math.ceil(lease_s * 1000)}"]
    return _write_config(place, bundle, limits, _First(args, "/tmp", supervised=False), separation)


def write_series_bundle(
    place: BundlePlace, bundle: Bundle, job: ExecJob, separation: Separation
) -> tuple[dict[str, int] | None, Path]:
    """A bundle for a series of runs of ``job``'s program (``series.py``, runc): its supervisor is the first process.

    Each case's stdin is handed over when the case starts (:func:`handover.hand_over_stdin`). Returned: the
    rlimits (as :func:`write_bundle`), and the FIFO of the supervisor's lines, which only its uid may open.
    """
    _make_directories(bundle)
    hand_over(bundle.sandbox_dir, replace(job, stdin=b""))
    fifo = bundle.sandbox_dir / SERIES_REPORT
    os.mkfifo(fifo, 0o600)
    host_uid = separation.userns_shape.host_base + INIT_UID
    os.chown(fifo, host_uid, host_uid)
    os.chmod(fifo, 0o600)  # whatever the umask
    args = series_args(job.limits.cpu_ms, job.limits.pids, report=f"{SANDBOX_DIR}/{SERIES_REPORT}")
    first = _First(args, working_dir(job), supervised=True, starts_as_root=True, extra_pids=SERIES_SUPERVISOR_PIDS)
    return _write_config(place, bundle, job.limits, first, separation), fifo


@dataclass(frozen=True)
class _First:
    """The sandbox's first process: its argv and working directory, and whether it is the program's supervisor."""

    args: list[str]
    cwd: str
    supervised: bool
    #: a supervisor that becomes its own uid (root in the sandbox's user namespace until then)
    starts_as_root: bool = False
    #: tasks the sandbox holds beyond the program's (a series supervisor's, which keeps the program to its own)
    extra_pids: int = 0


def _make_directories(bundle: Bundle) -> None:
    bundle.directory.mkdir(mode=0o700)
    bundle.sandbox_dir.mkdir(mode=0o755)


def _write_config(
    place: BundlePlace, bundle: Bundle, limits: Limits, first: _First, separation: Separation | None
) -> dict[str, int] | None:
    shape = _shape(place, bundle, limits, first)
    if separation is not None:
        shape = replace(shape, rootfs=str(separation.view), user_namespace=separation.userns_shape)
    config = oci_config(shape, place.policy)
    (bundle.directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return process_rlimits(shape, place.policy) if separation is not None else None


def _shape(place: BundlePlace, bundle: Bundle, limits: Limits, first: _First) -> OciShape:
    first_uid = 0 if first.starts_as_root else INIT_UID if first.supervised else PROGRAM_UID
    return OciShape(
        rootfs=str(place.rootfs),
        args=first.args,
        env=program_environment(limits),
        cwd=first.cwd,
        uid=first_uid,
        gid=first_uid,
        capabilities=SUPERVISOR_CAPABILITIES if first.supervised else (),
        memory_mb=limits.memory_mb,
        cpus=limits.cpus,
        pids=limits.pids + first.extra_pids,  # the spec adds gVisor's own host tasks under runsc (RUNSC_PIDS_OVERHEAD)
        tmpfs_mb=place.policy.tmpfs_mb,
        # CPU time of all threads counts: a program busy on every CPU it has reaches wall_s * cpus.
        cpu_time_limit_s=math.ceil((limits.wall_s + CPU_BACKSTOP_GRACE_S) * max(1.0, limits.cpus)),
        cgroups_path=cgroups_path(place.instance, bundle.sandbox_id),
        binds={str(bundle.sandbox_dir): SANDBOX_DIR},
    )


def sized_alike(first: Limits, second: Limits) -> bool:
    """Whether a sandbox created for ``first`` is exactly the one ``second`` would get (``_shape``'s inputs)."""
    return (first.memory_mb, first.cpus, first.pids, first.wall_s) == (
        second.memory_mb, second.cpus, second.pids, second.wall_s,
    )  # fmt: skip


def _first_args(job: ExecJob, supervised: bool) -> list[str]:
    """The sandbox's first process: the program's supervisor (under runsc), else the program itself."""
    if supervised:
        return supervisor_args(job.args, job.limits.cpu_ms, live=job.live is not None)
    return [PROGRAM_PATH, *job.args]

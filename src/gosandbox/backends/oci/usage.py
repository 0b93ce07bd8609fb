"""What the kernel counted for one OCI sandbox, read from the cgroup we named for it.

Each sandbox gets ``cgroupsPath = /gosandbox-oci/<instance>/<id>`` (the cgroupfs driver: the same
path under every v1 controller, or one directory in v2), so its counters are found without asking
the runtime. runc keeps the cgroup of a stopped sandbox until ``delete`` (``run --keep``): the
counters are read once, after the program ended, and are exactly the program's (it is PID 1, there
is no init). runsc removes the cgroup as the sandbox exits, and the cgroup holds gVisor's own
processes (the Sentry and the Gofer) beside the program: the sampler reads it while the sandbox runs,
for the OOM and refused-fork counts, and the program's CPU time and peak memory come from its
supervisor (backends/supervisor.py).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from gosandbox.backends.cgroups import CgroupPlaces, SandboxUsage, merge_usage, path_places, read_usage_at

#: The top of every cgroup this backend names; one level per instance below it.
CGROUP_PARENT = "/gosandbox-oci"
_SAMPLE_EVERY_S = 0.05
_NOTHING = SandboxUsage(cpu_ns=None, peak_memory_bytes=None, oom_kills=None, forks_refused=None)


def cgroups_path(instance: str, sandbox_id: str) -> str:
    """The OCI ``cgroupsPath`` of one sandbox."""
    return f"{CGROUP_PARENT}/{instance}/{sandbox_id}"


def sandbox_places(instance: str, sandbox_id: str) -> CgroupPlaces:
    return path_places(cgroups_path(instance, sandbox_id))


class UsageSampler:
    """Reads a sandbox's cgroup every 50 ms while it runs and keeps the last counters it could read.

    The counters only grow, so the last reading is the closest to the end; it matters where the
    runtime removes the cgroup as the sandbox exits (runsc).
    """

    def __init__(self, places: CgroupPlaces) -> None:
        self.places = places
        self.last = _NOTHING
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="sandbox-usage", daemon=True)

    def start(self) -> UsageSampler:
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(_SAMPLE_EVERY_S):
            self.read_now()

    def read_now(self) -> SandboxUsage:
        self.last = merge_usage(read_usage_at(self.places), self.last)
        return self.last

    def stop(self) -> SandboxUsage:
        """Stop sampling; one last read (runc's stopped sandbox still has its cgroup)."""
        self._stop.set()
        self._thread.join()
        return self.read_now()


def remove_instance_cgroups(instance: str) -> None:
    """Remove this instance's (empty) parent cgroup directories, which the runtimes leave behind."""
    for top in (Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()):
        directory = top / CGROUP_PARENT.lstrip("/") / instance
        if directory.is_dir():
            _remove_empty_tree(directory)


def _remove_empty_tree(directory: Path) -> None:
    """rmdir, deepest first: a cgroup directory goes only when empty (its files are the kernel's)."""
    for child in directory.iterdir():
        if child.is_dir():
            _remove_empty_tree(child)
    with contextlib.suppress(OSError):  # still in use (another sandbox's), or not ours to remove
        directory.rmdir()

"""Helpers of the OCI backend's tests: built programs, and the sandboxes and processes a backend has."""

from __future__ import annotations

import time
from pathlib import Path

from gosandbox.backends.base import BuildJob
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.backends.oci.usage import CGROUP_PARENT

_BINARIES: dict[str, bytes] = {}  # main.go -> binary, across both runtimes (the builder is the same)


def binary_of(backend: OciBackend, source: str) -> bytes:
    if source not in _BINARIES:
        built = backend.build(BuildJob(files={"main.go": source, "go.mod": "module m\n\ngo 1.27\n"}, timeout_s=120))
        assert built.succeeded, built.output
        assert built.binary is not None
        _BINARIES[source] = built.binary
    return _BINARIES[source]


def sandboxes_after_removal(backend: OciBackend, timeout_s: float = 5.0) -> list[str]:
    """The runtime's sandboxes once the removals after the last runs (in the background) had time to finish."""
    deadline = time.monotonic() + timeout_s
    while (left := run_sandboxes(backend)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def run_sandboxes(backend: OciBackend) -> list[str]:
    """The runtime's sandboxes but those created ahead that wait for a run."""
    idle = backend.idle_sandbox_ids()
    return [sandbox_id for sandbox_id in backend.runtime.list_ids() if sandbox_id not in idle]


def processes_of(backend: OciBackend) -> list[int]:
    """Host pids still in a cgroup of the backend's sandboxes (the program under runc; gVisor's under runsc), but
    the waiting first processes of the sandboxes created ahead."""
    marker = f"{CGROUP_PARENT}/{backend.config.builds.instance}/"
    idle = [f"{marker}{sandbox_id}" for sandbox_id in backend.idle_sandbox_ids()]
    pids = []
    for cgroup in Path("/proc").glob("[0-9]*/cgroup"):
        try:
            text = cgroup.read_text()
            if marker in text and not any(place in text for place in idle):
                pids.append(int(cgroup.parent.name))
        except OSError:
            continue  # gone meanwhile
    return pids

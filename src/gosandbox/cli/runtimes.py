"""``gosandbox doctor``'s word on runtimes: which backend and runtime are in force, and which others could be.

For the Docker backend a runtime is usable when the engine has it registered and a probe sandbox (the runner
image's init, gone after 1 ms) starts and exits 0 under it: about 0.3 s for runc, 0.7 s for runsc here.
For the OCI backend it is usable when its binary is installed and this process is root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

from gosandbox.cli.checks import Check
from gosandbox.defaults import isolation, why
from gosandbox.settings import Settings

RUNTIMES = ("runc", "runsc")
#: What registers gVisor with a Docker engine; ``kill -HUP`` makes a running dockerd reload its runtimes.
#: --oci-seccomp: without it, this runsc ignores the seccomp profile in the container's spec.
DAEMON_JSON_SNIPPET = (
    '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none", "--oci-seccomp"]}}}'
)
HOW_TO_ADD = {
    "runc": "apt-get install runc",
    "runsc": f"apt-get install runsc, then merge {DAEMON_JSON_SNIPPET} into /etc/docker/daemon.json and "
    "`kill -HUP $(cat /var/run/docker.pid)` (or let make setup start the engine: it registers runsc)",
}
_SEARCH_PATH = ("/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin")


def runtime_in_force(settings: Settings) -> str:
    """The backend and runtime this configuration runs sandboxes with, what isolates a program there, and why."""
    backend, runtime = settings.backend, settings.runtime
    return f"backend {backend} with runtime {runtime}: {isolation(backend, runtime)}; {why(backend, runtime)}"


def _probe(client: Any, image: str, runtime: str, instance: str) -> str | None:
    """Start a sandbox under ``runtime`` that exits at once; None if it did, else why not."""
    from gosandbox.backends.docker.reaper import labels_for  # noqa: PLC0415

    try:
        client.containers.run(image, ["--lease=1"], runtime=runtime, network_mode="none", remove=True,
                              labels={**labels_for(instance), "gosandbox.role": "probe"})  # fmt: skip
    except Exception as exc:  # any failure is the answer
        return str(exc).splitlines()[0][:200]
    return None


def docker_runtime_checks(client: Any, info: dict[str, Any], settings: Settings) -> Iterator[Check]:
    """Each runtime as the engine knows it; a probe sandbox starts under each one registered."""
    from gosandbox.backends.docker.images import image_names  # noqa: PLC0415

    registered = info.get("Runtimes", {})
    runner = image_names(settings.go_image).runner
    for name in RUNTIMES:
        wanted = settings.backend == "docker" and settings.runtime == name
        if name not in registered:
            detail = f"not registered with the engine; to add it: {HOW_TO_ADD[name]}"
            yield Check(f"docker runtime {name}", not wanted, detail, HOW_TO_ADD[name])
            continue
        failure = _probe(client, runner, name, settings.instance)
        detail = (
            "registered, a probe sandbox started" if failure is None else f"registered, but a probe failed: {failure}"
        )
        yield Check(f"docker runtime {name}", failure is None or not wanted, detail, HOW_TO_ADD[name])


def oci_runtime_checks(settings: Settings) -> Iterator[Check]:
    """Each runtime's binary for the OCI backend, which runs them as root."""
    root = os.geteuid() == 0
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH_PATH])
    for name in RUNTIMES:
        wanted = settings.backend == "oci" and settings.runtime == name
        binary = shutil.which(name, path=search)
        if binary is None:
            install = f"apt-get install {name}"
            yield Check(f"oci runtime {name}", not wanted, f"not installed; to add it: {install}", install)
        else:
            detail = f"{binary}" + ("" if root else "; the OCI backend needs root and this process is not")
            yield Check(
                f"oci runtime {name}", root or not wanted, detail, "run the server as root, or use the Docker backend"
            )

"""What the Docker backend does differently when its sandboxes run under gVisor (``runtime = "runsc"``).

Found with Debian's runsc 20221219 under Docker 20.10 (tests/test_docker_runsc.py):

- The sandbox's cgroup holds gVisor's own host tasks (the Sentry, the Gofer, the ptrace platform's stubs), so the
  pids limit gets an allowance for them (options.host_pids_limit), and the CPU time and peak memory it counts are
  gVisor's as much as the program's: they are not reported (None).
- The program's memory is the Sentry's: past the memory limit the host kills the Sentry, and the whole sandbox
  dies with the program. Docker then never ends the ``docker exec`` stream, so a run would wait forever: a
  :class:`DeathWatch` notices the sandbox's cgroup vanish and hangs the stream up; the container's state says
  whether the memory limit killed it.
- The builder stays on runc (:func:`builder_policy`): it runs the Go toolchain, never the program, and under
  runsc a hello world's build took 1.67 s instead of 0.63 s here (p50 of 20, POST /run on a live server).
- runsc has no ``update`` command: a pre-started sandbox cannot be resized, so a run whose limits differ from
  the pool's gets a sandbox started for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import docker

from gosandbox.backends.docker.cgroups import SandboxUsage, docker_places, read_usage
from gosandbox.policy import Policy

logger = logging.getLogger(__name__)

GVISOR = "runsc"
_POLL_S = 0.05


def builder_policy(policy: Policy) -> Policy:
    """The builder's policy: the run sandboxes', on runc (the one place where their runtimes part)."""
    if policy.runtime != GVISOR:
        return policy
    logger.info("run sandboxes under runsc (gVisor); the builder under runc")
    return replace(policy, runtime="runc")


def can_resize(runtime: str) -> bool:
    """Whether the engine can change a running sandbox's limits under ``runtime``."""
    return runtime != GVISOR


def _cgroup_exists(container_id: str) -> bool:
    places = docker_places(container_id)
    memory_dirs = [pattern.format(controller="memory") for pattern in places.v1] + list(places.v2)
    return any(Path(directory).is_dir() for directory in memory_dirs)


class DeathWatch:
    """While a run's exec streams, checks every 50 ms that the sandbox's cgroup is still there.

    When it is gone before the stream ended, the sandbox died (the Sentry with it): ``hang_up`` ends the
    stream, and :attr:`gone` says so. The last counters read before are kept (the cgroup goes with the sandbox).
    """

    def __init__(self, container_id: str, stream_ended: threading.Event, hang_up: Callable[[], None]) -> None:
        self.container_id, self._stream_ended, self._hang_up = container_id, stream_ended, hang_up
        self.gone = False
        self.last_usage: SandboxUsage | None = None
        threading.Thread(target=self._watch, name="sandbox-death-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self._stream_ended.wait(_POLL_S):
            if not _cgroup_exists(self.container_id):
                self.gone = True
                self._hang_up()
                return
            self.last_usage = read_usage(self.container_id)


def usage_after_death(client: docker.DockerClient, container_id: str, last: SandboxUsage | None) -> SandboxUsage:
    """The counters of a sandbox that died under its exec: the last reading, and the engine's word on OOM."""
    oom_killed = False
    with contextlib.suppress(docker.errors.APIError):
        oom_killed = bool(client.api.inspect_container(container_id)["State"].get("OOMKilled"))
    base = last or SandboxUsage(cpu_ns=None, peak_memory_bytes=None, oom_kills=None, forks_refused=None)
    return replace(base, oom_kills=max(base.oom_kills or 0, int(oom_killed)))


def program_usage(usage: SandboxUsage) -> SandboxUsage:
    """Only the counters that are the program's: under gVisor, not the CPU time nor the peak memory."""
    return replace(usage, cpu_ns=None, peak_memory_bytes=None)

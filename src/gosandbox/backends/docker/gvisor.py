"""What the Docker backend does differently when its sandboxes run under gVisor (``runtime = "runsc"``).

Found with Debian's runsc 20221219 under Docker 20.10 (tests/test_docker_runsc.py):

- The sandbox's cgroup holds gVisor's own host tasks (the Sentry, the Gofer, the ptrace platform's stubs), so the
  pids limit gets an allowance for them (options.host_pids_limit), and the CPU time and peak memory it counts are
  gVisor's as much as the program's: those come from the program's supervisor (backends/supervisor.py).
- The program's memory is the Sentry's: past the memory limit the host kills the Sentry, and the whole sandbox
  dies with the program; the container's state says whether the memory limit killed it (usage_after_death).
- ``runsc exec`` starts a process without the container's seccomp filter, so the program is the sandbox's own
  process, started for its run (:func:`starts_program_itself`): no pre-started pool, no exec, no resize
  (runsc 20221219 has no ``update`` command either).
- The builder stays on runc (:func:`builder_policy`): it runs the Go toolchain, never the program, and under
  runsc a hello world's build took 1.67 s instead of 0.63 s here (p50 of 20, POST /run on a live server).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace

import docker

from gosandbox.backends.cgroups import SandboxUsage
from gosandbox.policy import Policy

logger = logging.getLogger(__name__)

GVISOR = "runsc"


def builder_policy(policy: Policy) -> Policy:
    """The builder's policy: the run sandboxes', on runc (the one place where their runtimes part)."""
    if policy.runtime != GVISOR:
        return policy
    logger.info("run sandboxes under runsc (gVisor); the builder under runc")
    return replace(policy, runtime="runc")


def starts_program_itself(runtime: str) -> bool:
    """Whether a run's sandbox is started for it, the program started by its first process (no pool, no exec).

    Under runsc: ``runsc exec`` (what ``docker exec`` becomes) starts a process without the container's seccomp
    filter (runsc 20221219: ``Seccomp: 0`` in the exec'd program's /proc/self/status, 2 in PID 1's), so the
    program must be started by the container's own process, its supervisor, to be filtered. Each run then pays a
    container start, and a server that dies mid-run leaves its sandbox to the next start's reaper.
    """
    return runtime == GVISOR


def usage_after_death(client: docker.DockerClient, container_id: str, last: SandboxUsage | None) -> SandboxUsage:
    """The counters of a sandbox that died under its exec: the last reading, and the engine's word on OOM."""
    oom_killed = False
    with contextlib.suppress(docker.errors.APIError):
        oom_killed = bool(client.api.inspect_container(container_id)["State"].get("OOMKilled"))
    base = last or SandboxUsage(cpu_ns=None, peak_memory_bytes=None, oom_kills=None, forks_refused=None)
    return replace(base, oom_kills=max(base.oom_kills or 0, int(oom_killed)))

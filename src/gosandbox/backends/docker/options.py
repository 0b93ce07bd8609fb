"""The one place that spells Docker container options from the policy and a sandbox's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docker.types import LogConfig, Mount, Ulimit

from gosandbox.policy import RUNSC_PIDS_OVERHEAD, Policy

MIB = 1024 * 1024
#: Host tasks gVisor itself runs in a runsc sandbox's pids cgroup under Docker (its Sentry, Gofer and the ptrace
#: platform's stubs): 46 for an idle init here, 64 and more during one ``docker exec``. With the program's limit
#: alone the Sentry cannot start a thread and dies (exit 2), and Docker never ends the exec's stream.


@dataclass(frozen=True)
class SandboxShape:
    """What differs between the builder and a run sandbox."""

    image: str
    command: list[str]
    user: str
    memory_mb: int
    cpus: float
    pids: int
    tmpfs_mb: int
    labels: dict[str, str]
    binds: dict[str, str] = field(default_factory=dict)  # host path -> container path, read-only
    writable_binds: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)  # volume name -> container path
    environment: dict[str, str] = field(default_factory=dict)
    #: Instead of the image's (a sandbox whose own process is the program); None keeps the image's.
    entrypoint: list[str] | None = None
    working_dir: str | None = None
    #: Capabilities the first process holds despite ``cap_drop=ALL``: a gVisor sandbox's supervisor's
    #: (backends/supervisor.py), which starts the program as another uid with none.
    capabilities: tuple[str, ...] = ()
    #: An open stdin, closed when the one client attached to it hangs up (the supervisor's channel from us).
    stdin_open: bool = False


def _mounts(shape: SandboxShape) -> list[Mount]:
    mounts = [Mount(target, source, type="bind", read_only=True) for source, target in shape.binds.items()]
    mounts += [Mount(target, source, type="bind", read_only=False) for source, target in shape.writable_binds.items()]
    mounts += [Mount(target, name, type="volume", read_only=False) for name, target in shape.volumes.items()]
    return mounts


def _security_opt(policy: Policy) -> list[str]:
    options = []
    if policy.no_new_privileges:
        options.append("no-new-privileges:true")
    if policy.seccomp_profile is not None:
        options.append(f"seccomp={policy.seccomp_profile}")
    return options


def host_pids_limit(pids: int, runtime: str) -> int:
    """The container's pids limit for a program allowed ``pids`` tasks.

    Under runc the program's tasks are host tasks. Under runsc they are the Sentry's, which holds the program's
    threads as goroutines (Go's own 10000-thread limit applies to them) and runs ~3 host tasks per guest process
    (ptrace stubs): the cgroup bounds gVisor's host tasks, so a fork bomb ends the whole sandbox instead.
    """
    return pids + RUNSC_PIDS_OVERHEAD if runtime == "runsc" else pids


def resource_update(memory_mb: int, cpus: float, pids: int, runtime: str) -> dict[str, int]:
    """The body of the engine's container-update call that resizes a sandbox (same rules as below)."""
    limit = host_pids_limit(pids, runtime)
    return {"Memory": memory_mb * MIB, "MemorySwap": memory_mb * MIB, "NanoCpus": int(cpus * 1e9), "PidsLimit": limit}


def container_options(shape: SandboxShape, policy: Policy) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (docker SDK)."""
    started_as = {"entrypoint": shape.entrypoint, "working_dir": shape.working_dir}
    chosen: dict[str, Any] = {key: value for key, value in started_as.items() if value is not None}
    if shape.capabilities:
        chosen["cap_add"] = list(shape.capabilities)
    if shape.stdin_open:
        chosen["stdin_open"] = True  # the SDK sets StdinOnce with it
    return chosen | {
        "image": shape.image,
        "command": shape.command,
        "user": shape.user,
        "labels": shape.labels,
        "environment": shape.environment,
        "detach": True,
        "hostname": "sandbox",
        "network_mode": "bridge" if policy.network_enabled else "none",
        "read_only": policy.read_only_root,
        "cap_drop": ["ALL"] if policy.drop_all_capabilities else [],
        "security_opt": _security_opt(policy),
        "runtime": policy.runtime,
        "mem_limit": shape.memory_mb * MIB,
        "memswap_limit": shape.memory_mb * MIB,  # equal: no swap
        "nano_cpus": int(shape.cpus * 1e9),
        "pids_limit": host_pids_limit(shape.pids, policy.runtime),
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={shape.tmpfs_mb}m,mode=1777"},
        "ipc_mode": "private",
        "shm_size": policy.shm_mb * MIB,
        "ulimits": [
            Ulimit(name="nofile", soft=policy.nofile, hard=policy.nofile),
            Ulimit(name="fsize", soft=policy.fsize_mb * MIB, hard=policy.fsize_mb * MIB),
            Ulimit(name="core", soft=0, hard=0),
        ],
        "mounts": _mounts(shape),
        "log_config": LogConfig(type="none"),
        "stop_signal": "SIGKILL",
    }

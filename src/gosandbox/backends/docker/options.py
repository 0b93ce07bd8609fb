"""The one place that spells Docker container options from the policy and a sandbox's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docker.types import LogConfig, Mount, Ulimit

from gosandbox.policy import Policy

MIB = 1024 * 1024


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


def resource_update(memory_mb: int, cpus: float, pids: int) -> dict[str, int]:
    """The body of the engine's container-update call that resizes a sandbox (same rules as below)."""
    return {"Memory": memory_mb * MIB, "MemorySwap": memory_mb * MIB, "NanoCpus": int(cpus * 1e9), "PidsLimit": pids}


def container_options(shape: SandboxShape, policy: Policy) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (docker SDK)."""
    return {
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
        "pids_limit": shape.pids,
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

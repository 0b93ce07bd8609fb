"""container_options: the whole set of Docker options a sandbox is created with."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from docker.types import LogConfig, Mount, Ulimit

from gosandbox.backends.docker.options import SandboxShape, container_options, resource_update
from gosandbox.policy import Policy

MIB = 1024 * 1024

SHAPE = SandboxShape(
    image="gosandbox-runner:abc123",
    command=["/agent", "run"],
    user="10002:10002",
    memory_mb=128,
    cpus=1.5,
    pids=64,
    tmpfs_mb=32,
    labels={"gosandbox.instance": "test", "gosandbox.role": "run"},
    binds={"/srv/state/bin": "/sandbox/bin"},
    writable_binds={"/srv/state/builds": "/builds"},
    volumes={"gosandbox-gocache": "/cache"},
    environment={"GOMAXPROCS": "2"},
)

EXPECTED: dict[str, Any] = {
    "image": "gosandbox-runner:abc123",
    "command": ["/agent", "run"],
    "user": "10002:10002",
    "labels": {"gosandbox.instance": "test", "gosandbox.role": "run"},
    "environment": {"GOMAXPROCS": "2"},
    "detach": True,
    "hostname": "sandbox",
    "network_mode": "none",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "runtime": "runc",
    "mem_limit": 128 * MIB,
    "memswap_limit": 128 * MIB,
    "nano_cpus": 1_500_000_000,
    "pids_limit": 64,
    "tmpfs": {"/tmp": "rw,nosuid,nodev,size=32m,mode=1777"},
    "ipc_mode": "private",
    "shm_size": 16 * MIB,
    "ulimits": [
        {"Name": "nofile", "Soft": 256, "Hard": 256},
        {"Name": "fsize", "Soft": 128 * MIB, "Hard": 128 * MIB},
        {"Name": "core", "Soft": 0, "Hard": 0},
    ],
    "mounts": [
        {"Target": "/sandbox/bin", "Source": "/srv/state/bin", "Type": "bind", "ReadOnly": True},
        {"Target": "/builds", "Source": "/srv/state/builds", "Type": "bind", "ReadOnly": False},
        {"Target": "/cache", "Source": "gosandbox-gocache", "Type": "volume", "ReadOnly": False},
    ],
    "log_config": {"Type": "none", "Config": {}},
    "stop_signal": "SIGKILL",
}


def plain(options: dict[str, Any]) -> dict[str, Any]:
    """The options with the docker.types objects turned into the plain dicts they are sent as."""
    assert all(isinstance(u, Ulimit) for u in options["ulimits"])
    assert all(isinstance(m, Mount) for m in options["mounts"])
    assert isinstance(options["log_config"], LogConfig)
    return {
        **options,
        "ulimits": [dict(u) for u in options["ulimits"]],
        "mounts": [dict(m) for m in options["mounts"]],
        "log_config": dict(options["log_config"]),
    }


def test_the_default_policy_gives_exactly_these_options() -> None:
    assert plain(container_options(SHAPE, Policy())) == EXPECTED


def test_a_shape_without_mounts_or_environment() -> None:
    bare = SandboxShape(image="img", command=["x"], user="1:1", memory_mb=16, cpus=0.1, pids=8, tmpfs_mb=1, labels={})
    options = plain(container_options(bare, Policy()))
    assert options["mounts"] == []
    assert options["environment"] == {}
    assert options["nano_cpus"] == 100_000_000
    assert options["mem_limit"] == options["memswap_limit"] == 16 * MIB
    assert options["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=1m,mode=1777"}


def test_loosening_the_network_is_explicit_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gosandbox.policy"):
        policy = Policy().loosened(network_enabled=True)
    assert policy.network_enabled is True
    assert plain(container_options(SHAPE, policy)) == {**EXPECTED, "network_mode": "bridge"}
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "sandbox policy loosened: network_enabled=True"


def test_loosening_every_hardening_shows_in_the_options(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gosandbox.policy"):
        policy = Policy().loosened(read_only_root=False, drop_all_capabilities=False, no_new_privileges=False)
    options = plain(container_options(SHAPE, policy))
    assert options == {**EXPECTED, "read_only": False, "cap_drop": [], "security_opt": []}
    assert sorted(r.getMessage() for r in caplog.records) == [
        "sandbox policy loosened: drop_all_capabilities=False",
        "sandbox policy loosened: no_new_privileges=False",
        "sandbox policy loosened: read_only_root=False",
    ]


def test_resource_fields_are_not_logged_and_a_runtime_change_is(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gosandbox.policy"):
        policy = Policy().loosened(network_enabled=False, nofile=512, fsize_mb=8, shm_mb=1).loosened(runtime="runsc")
    assert [r.getMessage() for r in caplog.records] == ["sandbox policy changed: runtime='runsc'"]
    options = plain(container_options(SHAPE, policy))
    assert options["runtime"] == "runsc"
    assert options["shm_size"] == 1 * MIB
    assert options["ulimits"][:2] == [
        {"Name": "nofile", "Soft": 512, "Hard": 512},
        {"Name": "fsize", "Soft": 8 * MIB, "Hard": 8 * MIB},
    ]


def test_loosened_leaves_the_original_policy_alone() -> None:
    policy = Policy()
    policy.loosened(network_enabled=True)
    assert policy == Policy()
    assert policy.network_enabled is False


def test_under_gvisor_only_the_runtime_and_the_pids_allowance_differ() -> None:
    """runsc's Sentry, Gofer and ptrace stubs are host tasks in the sandbox's pids cgroup (46 for an idle init)."""
    options = plain(container_options(SHAPE, Policy(runtime="runsc")))
    assert options == {**EXPECTED, "runtime": "runsc", "pids_limit": 64 + 128}


def test_a_resize_keeps_the_same_rules() -> None:
    runc, runsc = resource_update(128, 1.5, 64, "runc"), resource_update(128, 1.5, 64, "runsc")
    assert runc == {"Memory": 128 * MIB, "MemorySwap": 128 * MIB, "NanoCpus": 1_500_000_000, "PidsLimit": 64}
    assert runsc == {**runc, "PidsLimit": 64 + 128}

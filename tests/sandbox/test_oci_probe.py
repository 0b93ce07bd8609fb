"""The config from oci_config, run by the real runc and runsc: a probe inside reports what it can see and do.

The probe (tests/oci_probe/probe.go, our own code) is the sandbox's only process, alone in a root
filesystem of empty mount points, as a run's program is. Needs root, runc and runsc (``make setup``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.backends.docker.images import toolchain_root
from gosandbox.backends.oci.spec import RUNTIMES, OciShape, oci_config
from gosandbox.policy import PROGRAM_UID, Policy
from gosandbox.settings import bundled_seccomp_profile
from support.docker_helpers import TEST_INSTANCE

PROBE_SOURCE = Path(__file__).parents[1] / "oci_probe" / "probe.go"
CGROUP_PARENT = f"/gosandbox/{TEST_INSTANCE}-oci-probe"
RUN_TIMEOUT_S = 20.0
#: Empty directories the runtime mounts on; /scratch is world-writable, so only a read-only root refuses a write.
MOUNT_POINTS = {"proc": 0o555, "dev": 0o755, "sys": 0o555, "sandbox": 0o755, "tmp": 0o1777, "scratch": 0o1777}

EXPECTED = {
    "pid": "1",
    "ids": f"{PROGRAM_UID}:{PROGRAM_UID} groups=[]",
    "hostname": "sandbox",
    "CapInh": "0000000000000000",
    "CapPrm": "0000000000000000",
    "CapEff": "0000000000000000",
    "CapBnd": "0000000000000000",
    "Seccomp": "2",  # filtering
    "no_new_privs": "1",
    "rlimit cpu": "1 1",
    "rlimit fsize": f"{128 * 1024 * 1024} {128 * 1024 * 1024}",
    "rlimit core": "0 0",
    "rlimit nofile": "256 256",
    "write /scratch": "errno 30",  # EROFS: the root is read-only
    "write /sandbox": "errno 30",  # the bind too
    "write /tmp": "ok",
    "/tmp bytes": str(8 * 1024 * 1024),
    "/dev/shm bytes": str(16 * 1024 * 1024),
    "read /sandbox/data": "ok 5 bytes",
    "read /proc/interrupts": "ok 0 bytes",  # masked: /dev/null
    "read /proc/timer_list": "ok 0 bytes",
    "list /sys/firmware": "ok 0 entries",  # masked: an empty read-only tmpfs
    "stat /tmp": "mode 1777 uid 0",
    "stat /dev/shm": "mode 1777 uid 0",
    "write /dev/shm": "ok",
    "interfaces": "lo",
    "routes": "0",
    "dial host": "errno 111",  # ECONNREFUSED: the host's 127.0.0.1 is another network namespace
    "unshare": "errno 1",  # EPERM: our profile's default action
    "mount": "errno 1",
    "clone3": "errno 38",  # ENOSYS: the profile's own errnoRet for clone3
    "personality": "errno 1",  # an argument the profile does not allow
}
#: What gVisor reports differently, and why (see RuntimeNeeds in spec.py and SECURITY.md).
DIFFERENCES = {
    "runc": {},
    "runsc": {
        "read /proc/interrupts": "errno 2",  # the Sentry's own /proc has neither file: nothing of the host to mask
        "read /proc/timer_list": "errno 2",
        "clone3": "errno 1",  # gVisor 20221219 applies EPERM to every SCMP_ACT_ERRNO, ignoring errnoRet
    },
}


@pytest.fixture(scope="module")
def probe_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe, static, built with the pinned toolchain (~20-40 s with an empty build cache, ~1 s after)."""
    work = tmp_path_factory.mktemp("oci-probe-build")
    root = toolchain_root()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GOROOT": str(root),
        # Go's own cache of this user (safe to share): only the first session compiles the standard library.
        "GOCACHE": os.environ.get("GOCACHE") or str(Path.home() / ".cache" / "go-build"),
        "GOPATH": str(work / "gopath"),
        "HOME": str(work),
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GO111MODULE": "off",
        "CGO_ENABLED": "0",
    }
    binary = work / "probe"
    command = [str(root / "bin" / "go"), "build", "-trimpath", "-o", str(binary), str(PROBE_SOURCE)]
    subprocess.run(command, env=env, cwd=work, check=True, timeout=300, capture_output=True)
    return binary


@pytest.fixture
def host_listener() -> Iterator[str]:
    """A listener on the host's loopback: the sandbox must not reach it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def make_bundle(directory: Path, runtime: str, probe: Path, args: list[str], cgroups_path: str) -> Path:
    """A bundle: the probe alone in a root of mount points, a world-writable bind at /sandbox, config.json."""
    rootfs, share = directory / "rootfs", directory / "share"
    for name, mode in MOUNT_POINTS.items():
        (rootfs / name).mkdir(parents=True)
        (rootfs / name).chmod(mode)  # runc gives a tmpfs the mode of the directory it mounts on
    shutil.copy(probe, rootfs / "probe")
    share.mkdir()
    share.chmod(0o1777)
    (share / "data").write_text("hello")
    shape = OciShape(
        rootfs=str(rootfs),
        args=["/probe", *args],
        env={"PATH": "/"},
        cwd="/tmp",
        uid=PROGRAM_UID,
        gid=PROGRAM_UID,
        memory_mb=64,
        cpus=2.0,
        pids=64,
        tmpfs_mb=8,
        cpu_time_limit_s=1,
        cgroups_path=cgroups_path,
        binds={str(share): "/sandbox"},
    )
    config = oci_config(shape, Policy(runtime=runtime, seccomp_profile=bundled_seccomp_profile()))
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def cgroup_dirs(cgroups_path: str) -> list[str]:
    """The directories of a cgroup path under every v1 hierarchy, or the v2 one."""
    return glob.glob(f"/sys/fs/cgroup/*{cgroups_path}") + glob.glob(f"/sys/fs/cgroup{cgroups_path}")


def run_probe(runtime: str, bundle: Path, container_id: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the bundle to its end; the container and its state are deleted even if the run fails."""
    state = ["--root", str(bundle.parent / f"{runtime}-state")]
    command = [runtime, *state, *RUNTIMES[runtime].flags, "run", "--bundle", str(bundle), container_id]
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
        return result, time.monotonic() - started
    finally:
        delete = [runtime, *state, "delete", "-f", container_id]
        subprocess.run(delete, capture_output=True, timeout=RUN_TIMEOUT_S, check=False)  # gone already: fine


def report_of(stdout: str) -> dict[str, str]:
    lines = [line.split(": ", 1) if ": " in line else [line, ""] for line in stdout.splitlines()]
    return {key: value for key, value in lines}


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_the_sandbox_gives_the_probe_only_what_the_config_allows(
    runtime: str, probe_binary: Path, host_listener: str, tmp_path: Path
) -> None:
    if os.geteuid() != 0 or shutil.which(runtime) is None:
        pytest.fail(f"needs root and {runtime} on PATH: run `make setup` as root")
    container_id = f"{TEST_INSTANCE}-probe-{runtime}"
    cgroups_path = f"{CGROUP_PARENT}/{container_id}"
    bundle = make_bundle(tmp_path / "bundle", runtime, probe_binary, [host_listener], cgroups_path)
    try:
        result, duration_s = run_probe(runtime, bundle, container_id)
        assert cgroup_dirs(cgroups_path) == [], "the runtime left the sandbox's cgroup behind"
    finally:
        for parent in cgroup_dirs(CGROUP_PARENT):
            os.rmdir(parent)  # the runtimes create the parents and leave them
    assert result.returncode == 0, result.stderr[-2000:]
    assert report_of(result.stdout) == {**EXPECTED, **DIFFERENCES[runtime]}
    # ~0.1 s (runc) and ~0.3 s (runsc) here when the machine is idle; the bound catches a hang (runsc's KVM platform).
    assert duration_s < 3.0, f"{runtime} took {duration_s:.2f} s"


#: How each runtime ends a program past its RLIMIT_CPU (the backstop if this process dies before the deadline).
CPU_BACKSTOP = {
    "runc": (137, ""),  # the kernel's SIGKILL at the hard limit
    "runsc": (0, "cpu time: at least 2s\n"),  # gVisor 20221219 reports the limit but does not enforce it
}


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_the_cpu_time_rlimit_is_a_backstop_under_runc_only(runtime: str, probe_binary: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which(runtime) is None:
        pytest.fail(f"needs root and {runtime} on PATH: run `make setup` as root")
    container_id = f"{TEST_INSTANCE}-spin-{runtime}"
    bundle = make_bundle(tmp_path / "bundle", runtime, probe_binary, ["spin", "2"], f"{CGROUP_PARENT}/{container_id}")
    try:
        result, _ = run_probe(runtime, bundle, container_id)  # the limit in make_bundle: 1 CPU-second
    finally:
        for parent in cgroup_dirs(CGROUP_PARENT):
            os.rmdir(parent)
    assert (result.returncode, result.stdout) == CPU_BACKSTOP[runtime], result.stderr[-2000:]

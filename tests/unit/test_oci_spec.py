"""oci_config: the whole OCI config.json a sandbox is run with, and seccomp_to_oci, Docker's profile in OCI form."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from gosandbox.backends.oci import spec
from gosandbox.backends.oci.spec import (
    Host,
    OciShape,
    UnsupportedPolicy,
    UserNamespaceShape,
    oci_config,
    process_rlimits,
    seccomp_to_oci,
    thermal_throttle_paths,  # imported before the fixture below replaces it in the module
)
from gosandbox.policy import RUNSC_PIDS_OVERHEAD, Policy
from gosandbox.settings import bundled_seccomp_profile

MIB = 1024 * 1024
BUNDLED = bundled_seccomp_profile()
#: The default policy as the settings build it: our seccomp profile.
POLICY = Policy(seccomp_profile=BUNDLED)
X86_HOST = Host("x86_64", "6.1.0-18-amd64")

SHAPE = OciShape(
    rootfs="/srv/state/rootfs/abc123",
    args=["/sandbox/prog", "-v"],
    env={"PATH": "/usr/local/bin:/usr/bin:/bin", "GOMAXPROCS": "2"},
    cwd="/tmp",
    uid=10002,
    gid=10002,
    memory_mb=128,
    cpus=1.5,
    pids=64,
    tmpfs_mb=32,
    cpu_time_limit_s=47,
    cgroups_path="/gosandbox/test/abc",
    binds={"/srv/state/sandboxes/abc": "/sandbox"},
)


def _arg(value: int, op: str = "SCMP_CMP_EQ") -> list[dict[str, Any]]:
    return [{"index": 0, "value": value, "valueTwo": 0, "op": op}]


ALLOW = "SCMP_ACT_ALLOW"


def _masked(index: int, kind: int) -> dict[str, Any]:
    return {"index": index, "value": 0o170000, "valueTwo": kind, "op": "SCMP_CMP_MASKED_EQ"}


SOCKET_FAMILIES = (13, 14, 16, 18, 21, 22, 24, 26, 27, 28, 29, 30, 32, 33, 35, 36, 39, 41, 42, 43, 44, 45)
PERSONALITIES = (0, 8, 131072, 131080, 4294967295)
EXPECTED_SECCOMP: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64"],  # our archMap has no sub-architectures: no 32-bit syscalls
    "syscalls": [
        {"names": json.loads(BUNDLED)["syscalls"][0]["names"], "action": ALLOW},
        # mknod/mknodat of a plain file, a FIFO or a socket, never a device (mode & S_IFMT, in the mode argument)
        *(
            {"names": [name], "action": ALLOW, "args": [_masked(index, kind)]}
            for name, index in (("mknod", 1), ("mknodat", 2))
            for kind in (0, 0o010000, 0o100000, 0o140000)
        ),
        {"names": ["socket"], "action": ALLOW, "args": _arg(12, "SCMP_CMP_LT")},
        *({"names": ["socket"], "action": ALLOW, "args": _arg(family)} for family in SOCKET_FAMILIES),
        *({"names": ["personality"], "action": ALLOW, "args": _arg(persona)} for persona in PERSONALITIES),
        {"names": ["arch_prctl"], "action": ALLOW},  # includes amd64: kept on x86_64
        {"names": ["clone"], "action": ALLOW, "args": _arg(2114060288, "SCMP_CMP_MASKED_EQ")},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}

EXPECTED: dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False,
        "user": {"uid": 10002, "gid": 10002, "additionalGids": []},
        "args": ["/sandbox/prog", "-v"],
        "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "GOMAXPROCS=2"],
        "cwd": "/tmp",
        "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
        "noNewPrivileges": True,
        "rlimits": [
            {"type": "RLIMIT_NOFILE", "hard": 256, "soft": 256},
            {"type": "RLIMIT_FSIZE", "hard": 128 * MIB, "soft": 128 * MIB},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
            {"type": "RLIMIT_CPU", "hard": 47, "soft": 47},
        ],
        "oomScoreAdj": 0,
    },
    "root": {"path": "/srv/state/rootfs/abc123", "readonly": True},
    "hostname": "sandbox",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=16m"],
        },
        {
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["rw", "nosuid", "nodev", "noexec", "size=32m", "mode=1777"],
        },
        {
            "destination": "/sandbox",
            "type": "bind",
            "source": "/srv/state/sandboxes/abc",
            "options": ["rbind", "ro", "nosuid", "nodev", "rprivate"],
        },
    ],
    "linux": {
        "namespaces": [
            {"type": "pid"},
            {"type": "network"},
            {"type": "ipc"},
            {"type": "uts"},
            {"type": "mount"},
            {"type": "cgroup"},
        ],
        "resources": {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
                {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
                {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
                {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            ],
            "memory": {"limit": 128 * MIB, "swap": 128 * MIB},
            "cpu": {"quota": 150_000, "period": 100_000},
            "pids": {"limit": 64},
        },
        "cgroupsPath": "/gosandbox/test/abc",
        "maskedPaths": [
            "/proc/acpi",
            "/proc/asound",
            "/proc/interrupts",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/sys/devices/virtual/powercap",
            "/sys/firmware",
        ],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        "seccomp": EXPECTED_SECCOMP,
    },
}


@pytest.fixture(autouse=True)
def fixed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same output on any machine: an x86_64 host without thermal_throttle directories."""
    monkeypatch.setattr(spec.Host, "this", classmethod(lambda cls: X86_HOST))
    monkeypatch.setattr(spec, "thermal_throttle_paths", lambda: [])


def test_the_default_policy_gives_exactly_this_config() -> None:
    assert oci_config(SHAPE, POLICY) == EXPECTED
    json.dumps(oci_config(SHAPE, POLICY))  # it is written as config.json


def test_the_allow_rule_of_our_profile_is_kept_whole() -> None:
    [first, *_] = oci_config(SHAPE, POLICY)["linux"]["seccomp"]["syscalls"]
    assert len(first["names"]) == 297
    assert {"read", "write", "futex", "epoll_pwait", "mmap"} <= set(first["names"])
    never_whole = {"unshare", "mount", "ptrace", "bpf", "setns", "keyctl", "clone", "socket", "mknod", "mknodat"}
    assert not never_whole & set(first["names"])


def test_under_runsc_only_the_pids_limit_differs_by_gvisors_own_host_tasks() -> None:
    config = oci_config(SHAPE, POLICY.loosened(runtime="runsc"))
    resources = {**EXPECTED["linux"]["resources"], "pids": {"limit": 64 + RUNSC_PIDS_OVERHEAD}}
    assert config == {**EXPECTED, "linux": {**EXPECTED["linux"], "resources": resources}}
    assert spec.RUNTIMES["runsc"].flags == ("--network=none", "--oci-seccomp")
    assert spec.RUNTIMES["runc"].flags == ()


def test_in_a_user_namespace_of_its_own_only_the_namespace_its_ids_and_the_rlimits_differ() -> None:
    userns = UserNamespaceShape("/proc/4242/ns/user", 0x7000_0000, 65536)
    config = oci_config(replace(SHAPE, user_namespace=userns), POLICY)
    mapping = [{"containerID": 0, "hostID": 0x7000_0000, "size": 65536}]
    namespaces = [{"type": "user", "path": "/proc/4242/ns/user"}, *EXPECTED["linux"]["namespaces"]]
    linux = {**EXPECTED["linux"], "namespaces": namespaces, "uidMappings": mapping, "gidMappings": mapping}
    process = {key: value for key, value in EXPECTED["process"].items() if key != "rlimits"}
    assert config == {**EXPECTED, "process": process, "linux": linux}
    # The rlimits the config no longer carries are the ones the runtime applies (OciRuntime.run), unchanged.
    carried = {entry["type"]: entry["hard"] for entry in EXPECTED["process"]["rlimits"]}
    assert process_rlimits(SHAPE, POLICY) == carried
    assert all(entry["soft"] == entry["hard"] for entry in EXPECTED["process"]["rlimits"])


def test_loosening_capabilities_and_privileges_shows_in_the_config() -> None:
    config = oci_config(SHAPE, POLICY.loosened(drop_all_capabilities=False, no_new_privileges=False))
    process = {
        **EXPECTED["process"],
        "capabilities": {**EXPECTED["process"]["capabilities"], "bounding": list(spec.DOCKER_DEFAULT_CAPABILITIES)},
        "noNewPrivileges": False,
    }
    assert config == {**EXPECTED, "process": process}


def test_a_bare_shape_and_the_resource_fields_of_the_policy() -> None:
    bare = OciShape("/r", ["/p"], {}, "/", 1, 2, memory_mb=16, cpus=0.1, pids=8, tmpfs_mb=1, cpu_time_limit_s=1,
                    cgroups_path="/g/x")  # fmt: skip
    config = oci_config(bare, POLICY.loosened(nofile=512, fsize_mb=8, shm_mb=1))
    assert config["process"]["env"] == []
    assert config["process"]["user"] == {"uid": 1, "gid": 2, "additionalGids": []}
    assert config["process"]["rlimits"][:2] == [
        {"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512},
        {"type": "RLIMIT_FSIZE", "hard": 8 * MIB, "soft": 8 * MIB},
    ]
    assert [m["destination"] for m in config["mounts"]][-2:] == ["/dev/shm", "/tmp"]  # no binds
    assert config["mounts"][-2]["options"][-1] == "size=1m"
    assert config["mounts"][-1]["options"][-2] == "size=1m"
    assert config["linux"]["resources"]["cpu"] == {"quota": 10_000, "period": 100_000}
    assert config["linux"]["resources"]["memory"] == {"limit": 16 * MIB, "swap": 16 * MIB}


def test_writable_binds_are_still_nosuid_and_nodev() -> None:
    shape = replace(SHAPE, binds={}, writable_binds={"/srv/builds": "/builds"})
    assert oci_config(shape, POLICY)["mounts"][-1] == {
        "destination": "/builds",
        "type": "bind",
        "source": "/srv/builds",
        "options": ["rbind", "rw", "nosuid", "nodev", "rprivate"],
    }


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"network_enabled": True}, "network_enabled: an OCI sandbox has no network but its own loopback"),
        ({"read_only_root": False}, "read_only_root=False: the root filesystem is shared by every OCI sandbox"),
        ({"seccomp_profile": None}, "seccomp_profile None means the Docker engine's default profile"),
        ({"runtime": "crun"}, "runtime 'crun': the OCI backend knows runc, runsc"),
    ],
)
def test_what_an_oci_sandbox_cannot_give_is_refused(changes: dict[str, Any], refusal: str) -> None:
    with pytest.raises(UnsupportedPolicy, match="^" + refusal.replace("(", r"\(")) as raised:
        oci_config(SHAPE, POLICY.loosened(**changes))
    assert raised.value.hint


#: Fields that reach the config through the shape, as in the Docker options: the backend copies them over.
IN_THE_SHAPE = {"tmpfs_mb"}
#: A changed value for each field of Policy whose type has no generic change below.
OTHER_VALUES: dict[str, object] = {"runtime": "runsc", "seccomp_profile": '{"defaultAction": "SCMP_ACT_ALLOW"}'}


def _changed(name: str, default: object) -> object:
    if name in OTHER_VALUES:
        return OTHER_VALUES[name]
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1
    raise AssertionError(f"Policy.{name} is new: give it a changed value here and support it in oci_config")


@pytest.mark.parametrize("name", [f.name for f in fields(Policy)])
def test_every_policy_field_changes_the_config_or_is_refused(name: str) -> None:
    """A new Policy field without OCI support fails here: a changed policy must never give the same config."""
    policy = POLICY.loosened(**{name: _changed(name, getattr(POLICY, name))})
    try:
        config = oci_config(SHAPE, policy)
    except UnsupportedPolicy:
        return
    if name in IN_THE_SHAPE:
        assert config == EXPECTED
    else:
        assert config != EXPECTED


def test_thermal_throttle_directories_of_the_host_are_masked(tmp_path: Path) -> None:
    for cpu in (10, 2, 0):
        (tmp_path / f"devices/system/cpu/cpu{cpu}/thermal_throttle").mkdir(parents=True)
    (tmp_path / "devices/system/cpu/cpufreq").mkdir()
    (tmp_path / "devices/system/cpu/cpu1").mkdir()
    assert thermal_throttle_paths(tmp_path) == [
        "/sys/devices/system/cpu/cpu0/thermal_throttle",
        "/sys/devices/system/cpu/cpu2/thermal_throttle",
        "/sys/devices/system/cpu/cpu10/thermal_throttle",
    ]


def test_oci_config_masks_what_thermal_throttle_paths_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec, "thermal_throttle_paths", lambda: ["/sys/devices/system/cpu/cpu0/thermal_throttle"])
    masked = oci_config(SHAPE, POLICY)["linux"]["maskedPaths"]
    assert masked == [*EXPECTED["linux"]["maskedPaths"], "/sys/devices/system/cpu/cpu0/thermal_throttle"]


# seccomp_to_oci on small profiles of Docker's format.


def profile(*rules: dict[str, Any], **top: Any) -> str:
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO", **top, "syscalls": list(rules)})


def names(seccomp: dict[str, Any]) -> list[str]:
    return [name for rule in seccomp["syscalls"] for name in rule["names"]]


def test_a_rule_that_includes_caps_needs_all_of_them() -> None:
    text = profile({"names": ["chroot"], "action": ALLOW, "includes": {"caps": ["CAP_SYS_CHROOT", "CAP_CHOWN"]}})
    assert names(seccomp_to_oci(text, host=X86_HOST)) == []
    assert names(seccomp_to_oci(text, frozenset({"CAP_SYS_CHROOT"}), X86_HOST)) == []
    assert names(seccomp_to_oci(text, frozenset({"CAP_SYS_CHROOT", "CAP_CHOWN", "CAP_KILL"}), X86_HOST)) == ["chroot"]


def test_a_rule_that_excludes_caps_goes_with_any_of_them() -> None:
    text = profile({"names": ["ptrace"], "action": ALLOW, "excludes": {"caps": ["CAP_SYS_PTRACE", "CAP_SYS_ADMIN"]}})
    assert names(seccomp_to_oci(text, host=X86_HOST)) == ["ptrace"]  # our fixed set: no capabilities
    assert names(seccomp_to_oci(text, frozenset({"CAP_SYS_ADMIN"}), X86_HOST)) == []


def test_rules_by_architecture_use_gos_names() -> None:
    text = profile(
        {"names": ["arch_prctl"], "action": ALLOW, "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["sync_file_range2"], "action": ALLOW, "includes": {"arches": ["arm64"]}},
        {"names": ["not_on_arm"], "action": ALLOW, "excludes": {"arches": ["arm64"]}},
    )
    assert names(seccomp_to_oci(text, host=X86_HOST)) == ["arch_prctl", "not_on_arm"]
    assert names(seccomp_to_oci(text, host=Host("aarch64", "6.1.0"))) == ["sync_file_range2"]


def test_rules_by_kernel_version() -> None:
    text = profile(
        {"names": ["new"], "action": ALLOW, "includes": {"minKernel": "5.8"}},
        {"names": ["old"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"minKernel": "5.8"}},
    )
    assert names(seccomp_to_oci(text, host=Host("x86_64", "5.10.0-28-amd64"))) == ["new"]
    assert names(seccomp_to_oci(text, host=Host("x86_64", "5.4.0"))) == ["old"]
    assert names(seccomp_to_oci(text, host=Host("x86_64", "6.18.44-fc-v1045"))) == ["new"]


def test_errno_args_and_single_names_are_translated() -> None:
    text = profile(
        {"name": "clone3", "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "comment": "ENOSYS: libc falls back"},
        {"names": ["clone"], "action": ALLOW, "args": [{"index": 0, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_GT"}]},
        {"names": ["socket"], "action": ALLOW, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}], "includes": {}},
        defaultErrnoRet=1,
        flags=["SECCOMP_FILTER_FLAG_LOG"],
    )
    assert seccomp_to_oci(text, host=X86_HOST) == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": [],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {
                "names": ["clone"],
                "action": ALLOW,
                "args": [{"index": 0, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_GT"}],
            },
            {
                "names": ["socket"],
                "action": ALLOW,
                "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }


def test_architectures_come_from_the_hosts_entry_of_the_arch_map() -> None:
    arch_map = [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ]
    text = profile(archMap=arch_map)
    assert seccomp_to_oci(text, host=X86_HOST)["architectures"] == [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
    ]
    assert seccomp_to_oci(text, host=Host("aarch64", "6.1"))["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert seccomp_to_oci(text, host=Host("riscv64", "6.1"))["architectures"] == []  # the native one only
    assert seccomp_to_oci(profile(architectures=["SCMP_ARCH_X86_64"]), host=X86_HOST)["architectures"] == [
        "SCMP_ARCH_X86_64"
    ]


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        (profile(architectures=["SCMP_ARCH_X86_64"], archMap=[{"architecture": "SCMP_ARCH_X86_64"}]), "both"),
        (profile({"name": "read", "names": ["write"], "action": ALLOW}), "both 'name' and 'names'"),
        (profile({"names": ["x"], "action": ALLOW, "includes": {"minKernel": "five"}}), "kernel version"),
    ],
)
def test_profiles_docker_would_refuse_are_refused(text: str, refusal: str) -> None:
    with pytest.raises(UnsupportedPolicy, match=refusal):
        seccomp_to_oci(text, host=X86_HOST)

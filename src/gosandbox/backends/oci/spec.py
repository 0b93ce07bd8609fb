"""The one place that spells an OCI runtime's ``config.json`` from the policy and a sandbox's shape.

It gives a sandbox run by ``runc`` or ``runsc`` directly every hardening the Docker backend's
sandboxes get from the engine (see ``backends/docker/options.py``): the same namespaces, no
network, a read-only root, no capabilities, no-new-privileges, a non-root user, memory = memory+swap,
a CPU quota, a pids limit, tmpfs sizes, rlimits, our seccomp profile, Docker's device rules and its
masked and read-only ``/proc`` and ``/sys`` paths. Under runc it adds what Docker's sandboxes do not have:
a user namespace of the sandbox's own (its users an unprivileged host range, ``userns.py``) and a root
filesystem view of its own (``rootfs.mount_view``). The program is the sandbox's own process (PID 1):
there is no agent and no exec, so no runtime process is ever visible inside.
"""

from __future__ import annotations

import functools
import json
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gosandbox.errors import GosandboxError
from gosandbox.policy import RUNSC_PIDS_OVERHEAD, Policy

MIB = 1024 * 1024
CPU_PERIOD_US = 100_000
OCI_VERSION = "1.0.2"

#: Docker's capabilities of a container (``oci/caps/defaults.go``): what a loosened policy keeps.
DOCKER_DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

#: Docker's masked paths of a non-privileged container (moby ``daemon/pkg/oci/defaults.go``): these
#: leak host information or hardware controls. The per-CPU thermal_throttle paths are added where they exist.
MASKED_PATHS = (
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
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

#: Docker's device cgroup rules: deny all, then null, zero, full, urandom, random, tty, console; never fuse.
_ALLOWED_DEVICES = ((1, 5), (1, 3), (1, 7), (1, 9), (1, 8), (5, 0), (5, 1))  # zero null full urandom random tty console
_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    *(
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in _ALLOWED_DEVICES
    ),
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
]

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


@dataclass(frozen=True)
class RuntimeNeeds:
    """What one OCI runtime needs beyond the shared config: the only place where runc and runsc differ.

    Found with the real binaries (tests/test_oci_probe.py). runsc runs its own kernel (the Sentry)
    and the ptrace platform's stub processes inside the sandbox's cgroup: ~32 host tasks on this 2-core
    machine before the program starts, so with the program's pids limit alone it cannot boot (EAGAIN).
    It loads ``linux.seccomp`` only with ``--oci-seccomp`` (without it: "Seccomp spec is being
    ignored"), and ``--network=none`` gives the sandbox a loopback and nothing else.

    The same config, read differently by runsc 20221219 (nothing to change here, but know it):
    every SCMP_ACT_ERRNO returns EPERM (``errnoRet`` and ``defaultErrnoRet`` are ignored) and rules
    naming syscalls it does not know are dropped, so those get the default EPERM (22 of our allowed
    names, pselect6 and fchmodat2 among them); RLIMIT_CPU is reported but not enforced; the Sentry's
    own ~11 MiB count in the memory limit; the mount options nosuid, nodev and rprivate and the
    mqueue mount are ignored (no-new-privileges already makes set-uid bits inert).
    """

    #: Command-line flags (before the subcommand) the config relies on.
    flags: tuple[str, ...]
    #: Host tasks the runtime itself runs in the sandbox's cgroup, added to the program's pids limit.
    pids_overhead: int


RUNTIMES = {
    "runc": RuntimeNeeds(flags=(), pids_overhead=0),
    "runsc": RuntimeNeeds(flags=("--network=none", "--oci-seccomp"), pids_overhead=RUNSC_PIDS_OVERHEAD),
}


class UnsupportedPolicy(GosandboxError):
    """The policy asks for something an OCI sandbox cannot give safely (a configuration error)."""

    hint = "use the Docker backend (GOSANDBOX_BACKEND=docker) for this policy, or keep the default hardening"


@dataclass(frozen=True)
class OciShape:
    """What differs between sandboxes: the program, its user, its limits, its mounts and its cgroup."""

    rootfs: str  # absolute host path of the unpacked image, shared read-only by every sandbox
    args: list[str]  # the program's argv: it is the sandbox's PID 1
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    memory_mb: int
    cpus: float
    pids: int
    tmpfs_mb: int
    #: RLIMIT_CPU (soft = hard, SIGKILL): a backstop for a busy program if this process dies before its deadline.
    cpu_time_limit_s: int
    cgroups_path: str  # the cgroup the runtime creates, e.g. "/gosandbox/<instance>/<id>"
    binds: dict[str, str] = field(default_factory=dict)  # host path -> container path, read-only
    writable_binds: dict[str, str] = field(default_factory=dict)
    hostname: str = "sandbox"
    #: What the first process holds: none for a program; under runsc its supervisor's (it starts the program as
    #: another uid, with none, see backends/supervisor.py).
    capabilities: tuple[str, ...] = ()
    #: runc: the sandbox's own user namespace (userns.py), joined by path; None: the host's users (runsc).
    user_namespace: UserNamespaceShape | None = None


@dataclass(frozen=True)
class UserNamespaceShape:
    """A user namespace made for one sandbox: where runc joins it, and the host ids its ids 0.. map to."""

    path: str
    host_base: int
    size: int


@dataclass(frozen=True)
class Host:
    """What the seccomp translation reads of the machine: ``platform.machine()`` and the kernel release."""

    machine: str
    kernel_release: str

    @classmethod
    def this(cls) -> Host:
        return cls(platform.machine(), platform.release())


#: machine -> (libseccomp name, Docker's "arches" name). Docker names arches by Go's GOARCH.
_ARCHES = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64")}


def oci_config(shape: OciShape, policy: Policy) -> dict[str, Any]:
    """The whole ``config.json`` of a sandbox; raises UnsupportedPolicy for what an OCI sandbox cannot give.

    A value to write out, not to edit: its seccomp section is shared between calls (translated once per profile).
    In a user namespace of its own the rlimits are not in it: the runtime applies them (:func:`process_rlimits`).
    """
    _refuse_unsupported(policy)
    process = _process(shape, policy)
    if shape.user_namespace is not None:
        # runc sets config rlimits on its child from outside, once the child is the namespace's unprivileged
        # host uid: without CAP_SYS_RESOURCE (this host's root has none) that prlimit is refused (EPERM).
        del process["rlimits"]
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": shape.rootfs, "readonly": policy.read_only_root},
        "hostname": shape.hostname,
        "mounts": _mounts(shape, policy),
        "linux": _linux(shape, policy),
    }


def _refuse_unsupported(policy: Policy) -> None:
    if policy.runtime not in RUNTIMES:
        raise UnsupportedPolicy(f"runtime {policy.runtime!r}: the OCI backend knows {', '.join(RUNTIMES)}")
    if policy.network_enabled:
        raise UnsupportedPolicy("network_enabled: an OCI sandbox has no network but its own loopback")
    if not policy.read_only_root:
        raise UnsupportedPolicy("read_only_root=False: the root filesystem is shared by every OCI sandbox")
    if policy.seccomp_profile is None:
        raise UnsupportedPolicy(
            "seccomp_profile None means the Docker engine's default profile; an OCI sandbox has no engine",
            hint="set GOSANDBOX_SECCOMP_PROFILE=bundled (ours) or a JSON file path",
        )


def _process(shape: OciShape, policy: Policy) -> dict[str, Any]:
    held = list(shape.capabilities)
    loosened = [] if policy.drop_all_capabilities else list(DOCKER_DEFAULT_CAPABILITIES)
    bounding = [*loosened, *(name for name in held if name not in loosened)]
    return {
        "terminal": False,
        "user": {"uid": shape.uid, "gid": shape.gid, "additionalGids": []},
        "args": shape.args,
        "env": [f"{name}={value}" for name, value in shape.env.items()],
        "cwd": shape.cwd,
        # Bounding only when loosened: as Docker does for a non-root user, nothing effective or permitted.
        "capabilities": {"bounding": bounding, "effective": held, "inheritable": [], "permitted": held, "ambient": []},
        "noNewPrivileges": policy.no_new_privileges,
        "rlimits": [_rlimit(kind, value) for kind, value in process_rlimits(shape, policy).items()],
        "oomScoreAdj": 0,
    }


def process_rlimits(shape: OciShape, policy: Policy) -> dict[str, int]:
    """The sandbox's first process's rlimits (soft = hard), by their OCI names."""
    return {
        "RLIMIT_NOFILE": policy.nofile,
        "RLIMIT_FSIZE": policy.fsize_mb * MIB,
        "RLIMIT_CORE": 0,
        "RLIMIT_CPU": shape.cpu_time_limit_s,
    }


def _rlimit(kind: str, value: int) -> dict[str, Any]:
    return {"type": kind, "hard": value, "soft": value}


def _mount(destination: str, kind: str, source: str, options: list[str]) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def _mounts(shape: OciShape, policy: Policy) -> list[dict[str, Any]]:
    """Docker's default mounts of a container, then /tmp, then the binds."""
    mounts = [
        _mount("/proc", "proc", "proc", _NOSUID_NOEXEC_NODEV),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
        ),
        _mount("/sys", "sysfs", "sysfs", [*_NOSUID_NOEXEC_NODEV, "ro"]),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", ["ro", *_NOSUID_NOEXEC_NODEV]),
        _mount("/dev/mqueue", "mqueue", "mqueue", _NOSUID_NOEXEC_NODEV),
        _mount("/dev/shm", "tmpfs", "shm", [*_NOSUID_NOEXEC_NODEV, "mode=1777", f"size={policy.shm_mb}m"]),
        # Docker adds noexec to every --tmpfs: the program runs from /sandbox, never from /tmp.
        _mount("/tmp", "tmpfs", "tmpfs", ["rw", "nosuid", "nodev", "noexec", f"size={shape.tmpfs_mb}m", "mode=1777"]),
    ]
    mounts += [_bind(source, target, "ro") for source, target in shape.binds.items()]
    mounts += [_bind(source, target, "rw") for source, target in shape.writable_binds.items()]
    return mounts


def _bind(source: str, target: str, mode: str) -> dict[str, Any]:
    return _mount(target, "bind", source, ["rbind", mode, "nosuid", "nodev", "rprivate"])


def _linux(shape: OciShape, policy: Policy) -> dict[str, Any]:
    assert policy.seccomp_profile is not None  # refused before
    capabilities = frozenset(_process(shape, policy)["capabilities"]["bounding"])
    linux: dict[str, Any] = {
        # A fresh network namespace has only a loopback interface, down until the runtime raises it.
        "namespaces": [{"type": kind} for kind in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "resources": {
            "devices": [dict(rule) for rule in _DEVICE_RULES],
            "memory": {"limit": shape.memory_mb * MIB, "swap": shape.memory_mb * MIB},  # equal: no swap
            "cpu": {"quota": round(shape.cpus * CPU_PERIOD_US), "period": CPU_PERIOD_US},
            "pids": {"limit": shape.pids + RUNTIMES[policy.runtime].pids_overhead},
        },
        "cgroupsPath": shape.cgroups_path,
        "maskedPaths": [*MASKED_PATHS, *thermal_throttle_paths()],
        "readonlyPaths": list(READONLY_PATHS),
        "seccomp": _seccomp_once(policy.seccomp_profile, capabilities, Host.this()),
    }
    userns = shape.user_namespace
    if userns is not None:
        linux["namespaces"].insert(0, {"type": "user", "path": userns.path})
        mapping = [{"containerID": 0, "hostID": userns.host_base, "size": userns.size}]
        linux["uidMappings"], linux["gidMappings"] = mapping, [dict(entry) for entry in mapping]
    return linux


def thermal_throttle_paths(sys_root: Path = Path("/sys")) -> list[str]:
    """The host's per-CPU thermal_throttle directories, masked as Docker does (GHSA-6fw5-f8r9-fgfm)."""
    found = sorted(sys_root.glob("devices/system/cpu/cpu[0-9]*/thermal_throttle"), key=_cpu_number)
    return [f"/sys/{path.relative_to(sys_root)}" for path in found]


def _cpu_number(path: Path) -> int:
    return int(path.parent.name.removeprefix("cpu"))


def seccomp_to_oci(
    profile_json: str, capabilities: frozenset[str] = frozenset(), host: Host | None = None
) -> dict[str, Any]:
    """Docker's seccomp profile format -> OCI's ``linux.seccomp``, as the engine translates it.

    A rule is kept only when its ``includes`` match (every cap held, the host's arch, kernel at least
    minKernel) and its ``excludes`` do not (any cap held, the host's arch, kernel at least minKernel).
    The architectures are the host's entry of ``archMap`` with its sub-architectures.
    """
    host = host or Host.this()
    profile = json.loads(profile_json)
    if profile.get("architectures") and profile.get("archMap"):
        raise UnsupportedPolicy("the seccomp profile names both 'architectures' and 'archMap'")
    seccomp: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if "defaultErrnoRet" in profile:
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
    seccomp["architectures"] = profile.get("architectures") or _host_architectures(profile, host)
    if "flags" in profile:
        seccomp["flags"] = profile["flags"]
    rules = [rule for rule in profile.get("syscalls", []) if _applies(rule, capabilities, host)]
    seccomp["syscalls"] = [_oci_rule(rule) for rule in rules]
    return seccomp


#: ~0.6 ms per translation of our profile, on the path of every run: once per profile is enough.
_seccomp_once = functools.lru_cache(maxsize=8)(seccomp_to_oci)


def _host_architectures(profile: dict[str, Any], host: Host) -> list[str]:
    native = _ARCHES.get(host.machine, ("", ""))[0]
    for entry in profile.get("archMap", []):
        if entry["architecture"] == native:
            return [native, *entry.get("subArchitectures", [])]
    return []


def _applies(rule: dict[str, Any], capabilities: frozenset[str], host: Host) -> bool:
    arch = _ARCHES.get(host.machine, ("", host.machine))[1]
    kernel = _kernel_version(host.kernel_release)
    excludes, includes = rule.get("excludes") or {}, rule.get("includes") or {}
    if arch in excludes.get("arches", []) or capabilities & set(excludes.get("caps", [])):
        return False
    if "minKernel" in excludes and kernel >= _kernel_version(excludes["minKernel"]):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not set(includes.get("caps", [])) <= capabilities:
        return False
    return "minKernel" not in includes or kernel >= _kernel_version(includes["minKernel"])


def _kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of "6.1.0-18-amd64" or of a profile's "4.8"."""
    found = re.match(r"(\d+)\.(\d+)", release)
    if found is None:
        raise UnsupportedPolicy(f"cannot read a kernel version from {release!r}")
    return int(found[1]), int(found[2])


def _oci_rule(rule: dict[str, Any]) -> dict[str, Any]:
    if rule.get("name") and rule.get("names"):
        raise UnsupportedPolicy("a seccomp rule names both 'name' and 'names'")
    oci: dict[str, Any] = {"names": rule.get("names") or [rule["name"]], "action": rule["action"]}
    if "errnoRet" in rule:
        oci["errnoRet"] = rule["errnoRet"]
    if rule.get("args"):
        oci["args"] = [_oci_arg(arg) for arg in rule["args"]]
    return oci


def _oci_arg(arg: dict[str, Any]) -> dict[str, Any]:
    return {"index": arg["index"], "value": arg["value"], "valueTwo": arg.get("valueTwo", 0), "op": arg["op"]}

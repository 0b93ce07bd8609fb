"""What the kernel counted for one run sandbox: CPU time, peak memory, OOM kills, refused forks.

The run sandbox holds nothing but an idle init and the program, and is used once, so its cgroup's
counters are the program's (plus a few milliseconds and a megabyte or two of init). The kernel keeps
them where the program cannot reach, and they count every descendant, orphans too. The engine does
not report them reliably (Docker 20.10 sets no ``OOMKilled`` when the killed process is not PID 1,
and its stats API costs a round trip per run), so they are read from the cgroup files on the
engine's host: with a remote engine each reads as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: A container's cgroup directory: v1 (one tree per controller) and v2, cgroupfs and systemd drivers.
_V1_DIRS = ("/sys/fs/cgroup/{controller}/docker/{id}", "/sys/fs/cgroup/{controller}/system.slice/docker-{id}.scope")
_V2_DIRS = ("/sys/fs/cgroup/docker/{id}", "/sys/fs/cgroup/system.slice/docker-{id}.scope")


@dataclass(frozen=True)
class _Counter:
    """One fact: its v1 controller and file, its v2 file, and the key of a ``key value`` line (None: the whole file)."""

    controller: str
    v1_file: str
    v2_file: str
    v1_key: str | None = None
    v2_key: str | None = None
    v2_scale: int = 1  # v2 counts CPU in microseconds, v1 in nanoseconds


_CPU_NS = _Counter("cpuacct", "cpuacct.usage", "cpu.stat", v2_key="usage_usec", v2_scale=1000)
_PEAK_BYTES = _Counter("memory", "memory.max_usage_in_bytes", "memory.peak")
_MEMORY_BYTES = _Counter("memory", "memory.usage_in_bytes", "memory.current")
_OOM_KILLS = _Counter("memory", "memory.oom_control", "memory.events", v1_key="oom_kill", v2_key="oom_kill")
_FORKS_REFUSED = _Counter("pids", "pids.events", "pids.events", v1_key="max", v2_key="max")


@dataclass(frozen=True)
class SandboxUsage:
    """The counters after a run; None where this host cannot read them."""

    cpu_ns: int | None
    peak_memory_bytes: int | None
    oom_kills: int | None
    #: forks and thread creations the pids limit refused
    forks_refused: int | None


@dataclass(frozen=True)
class CgroupPlaces:
    """Where one sandbox's cgroup may be: v1 directories (``{controller}`` in each) and v2 directories."""

    v1: tuple[str, ...]
    v2: tuple[str, ...]


def merge_usage(newer: SandboxUsage, older: SandboxUsage) -> SandboxUsage:
    """Each counter from ``newer`` where it could be read, else from ``older`` (the cgroup may be gone)."""
    return SandboxUsage(
        cpu_ns=newer.cpu_ns if newer.cpu_ns is not None else older.cpu_ns,
        peak_memory_bytes=newer.peak_memory_bytes if newer.peak_memory_bytes is not None else older.peak_memory_bytes,
        oom_kills=newer.oom_kills if newer.oom_kills is not None else older.oom_kills,
        forks_refused=newer.forks_refused if newer.forks_refused is not None else older.forks_refused,
    )


def docker_places(container_id: str) -> CgroupPlaces:
    """A Docker container's cgroup, for the cgroupfs and systemd drivers."""
    return CgroupPlaces(
        tuple(pattern.replace("{id}", container_id) for pattern in _V1_DIRS),
        tuple(pattern.replace("{id}", container_id) for pattern in _V2_DIRS),
    )


def path_places(cgroups_path: str) -> CgroupPlaces:
    """A cgroup named by an absolute OCI ``cgroupsPath`` (cgroupfs driver): under each v1 controller, or in v2."""
    return CgroupPlaces((f"/sys/fs/cgroup/{{controller}}{cgroups_path}",), (f"/sys/fs/cgroup{cgroups_path}",))


def read_usage(container_id: str) -> SandboxUsage:
    """Every counter of a container that has not been removed yet."""
    return read_usage_at(docker_places(container_id))


def read_usage_at(places: CgroupPlaces) -> SandboxUsage:
    """Every counter of the cgroup at ``places``; None for each one this host cannot read."""
    return SandboxUsage(
        cpu_ns=_read(_CPU_NS, places),
        peak_memory_bytes=_read(_PEAK_BYTES, places),
        oom_kills=_read(_OOM_KILLS, places),
        forks_refused=_read(_FORKS_REFUSED, places),
    )


def reset_peak_memory(container_id: str) -> None:
    """Start the peak over from the memory in use now (cgroup v1, as root), so that init's start-up is not in it.

    Elsewhere (v2, or without the right to write) the peak keeps counting from the sandbox's start.
    """
    reset_peak_memory_at(docker_places(container_id))


def reset_peak_memory_at(places: CgroupPlaces) -> None:
    """:func:`reset_peak_memory` of the cgroup at ``places``."""
    for directory in places.v1:
        path = Path(directory.format(controller=_PEAK_BYTES.controller), _PEAK_BYTES.v1_file)
        try:
            path.write_text("0")
        except OSError:
            continue
        return


def peak_can_restart() -> bool:
    """Whether this host lets a cgroup's memory peak start over: cgroup v1's memory controller (v2 has no reset)."""
    return Path("/sys/fs/cgroup/memory", _PEAK_BYTES.v1_file).exists()


def memory_in_use(places: CgroupPlaces) -> int | None:
    """The bytes the cgroup at ``places`` is charged for now (its processes' memory, its tmpfs files, page cache)."""
    return _read(_MEMORY_BYTES, places)


def cpu_time_ns(container_id: str) -> int | None:
    """CPU time (user + system) the container's processes used so far."""
    return cpu_time_ns_at(docker_places(container_id))


def cpu_time_ns_at(places: CgroupPlaces) -> int | None:
    """CPU time (user + system) the processes of the cgroup at ``places`` used so far."""
    return _read(_CPU_NS, places)


def cgroup_oom_kills(container_id: str) -> int | None:
    """How many processes the memory cgroup of a container killed, or None if unknown here."""
    return _read(_OOM_KILLS, docker_places(container_id))


def _read(counter: _Counter, places: CgroupPlaces) -> int | None:
    for directory in places.v1:
        text = _text(Path(directory.format(controller=counter.controller), counter.v1_file))
        if text is not None:
            return _value(text, counter.v1_key)
    for directory in places.v2:
        text = _text(Path(directory, counter.v2_file))
        if text is not None:
            value = _value(text, counter.v2_key)
            return None if value is None else value * counter.v2_scale
    return None


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _value(text: str, key: str | None) -> int | None:
    """The whole file as a number, or the value of its ``key value`` line."""
    try:
        if key is None:
            return int(text.strip())
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except ValueError:
        return None
    return None

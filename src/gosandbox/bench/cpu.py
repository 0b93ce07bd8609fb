"""Where the benchmark's CPU goes: the whole machine, and the parts of it we can name.

The whole machine's CPU-seconds come from ``/proc/stat`` (user + nice + system + irq + softirq, all
cores), so every process's share counts: the server, the runtime, the engine, the builder, and, on a
shared machine, everyone else's work too. Beside it, the parts this machine lets us attribute:

- ``builder``: the warm builder containers' cgroups (every ``go build`` run by ``docker exec``);
- ``engine``: dockerd and containerd (with the children they waited for) and the live shims' own
  time: the whole machine's engine, so other users' containers count in it too;
- ``server``: the server and its live descendants with every child they waited for: for the OCI
  backend that is ``runc``/``runsc`` and the sandboxes they ran (the runtime waits for them);
- ``sandboxes``: of the server's share, the OCI backend's run sandboxes, from its per-instance cgroup
  (the kernel charges each sandbox's CPU to it and keeps it after the sandbox's own cgroup is gone);
  Docker's run containers are not counted anywhere (their cgroups go with them): they fall into the rest;
- ``client``: this benchmark process.

What is left (short-lived shims and the ``runc`` calls they made, Docker's run containers, the
background load) is the machine's total less these parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from gosandbox.backends.cgroups import CgroupPlaces, docker_places, path_places, read_usage_at
from gosandbox.backends.oci.usage import CGROUP_PARENT as OCI_CGROUP_PARENT

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_ENGINE_DAEMONS = ("dockerd", "containerd")
_SHIM_PREFIX = "containerd-shim"


@dataclass(frozen=True)
class CpuParts:
    """CPU-seconds of the whole machine and of each part we can name (a sum, or a difference, or per run)."""

    machine: float = 0.0
    builder: float = 0.0
    sandboxes: float = 0.0
    engine: float = 0.0
    server: float = 0.0
    client: float = 0.0

    @property
    def rest(self) -> float:
        return self.machine - self.builder - self.engine - self.server - self.client  # sandboxes: in the server's

    def minus(self, earlier: CpuParts) -> CpuParts:
        return CpuParts(*(getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)))

    def per(self, count: int) -> CpuParts:
        return CpuParts(*(getattr(self, f.name) / max(count, 1) for f in fields(self)))


def machine_cpu_s() -> float:
    """user + nice + system + irq + softirq of every core so far, in seconds, from the first line of /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) * _TICK_S


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    name: str
    own_s: float
    #: own time plus that of the children it has waited for
    with_children_s: float


def _processes() -> list[_Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        utime, stime, cutime, cstime = (int(v) * _TICK_S for v in rest[11:15])
        found.append(_Proc(int(entry.name), int(rest[1]), name, utime + stime, utime + stime + cutime + cstime))
    return found


def _tree_s(processes: list[_Proc], root_pid: int) -> float:
    """``root_pid`` and its live descendants, each with the children it waited for."""
    children: dict[int, list[_Proc]] = {}
    for proc in processes:
        children.setdefault(proc.ppid, []).append(proc)
    total, queue = 0.0, [p for p in processes if p.pid == root_pid]
    while queue:
        proc = queue.pop()
        total += proc.with_children_s
        queue += children.get(proc.pid, [])
    return total


def _engine_s(processes: list[_Proc]) -> float:
    daemons = sum(p.with_children_s for p in processes if p.name in _ENGINE_DAEMONS)
    # a shim's children are the containers' processes (the builder's builds among them): its own time only
    return daemons + sum(p.own_s for p in processes if p.name.startswith(_SHIM_PREFIX))


def _cgroup_s(places: list[CgroupPlaces]) -> float:
    total_ns = 0
    for place in places:
        cpu_ns = read_usage_at(place).cpu_ns
        total_ns += cpu_ns or 0
    return total_ns / 1e9


def snapshot(server_pid: int, builder_ids: list[str], instance: str) -> CpuParts:
    """Every counter now; the difference of two snapshots is what happened between them."""
    processes = _processes()
    times = os.times()
    return CpuParts(
        machine=machine_cpu_s(),
        builder=_cgroup_s([docker_places(container_id) for container_id in builder_ids]),
        sandboxes=_cgroup_s([path_places(f"{OCI_CGROUP_PARENT}/{instance}")]),
        engine=_engine_s(processes),
        server=_tree_s(processes, server_pid),
        client=times.user + times.system,
    )

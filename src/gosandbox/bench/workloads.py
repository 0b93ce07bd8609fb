"""The workload suite: real programs, not hello world, under each candidate runtime against their native run.

Each workload is built once on the host with the pinned toolchain (copied out of the builder image: the
host has no Go of its own) and its binary run directly, stdout into a pipe as a sandbox's goes: that is
its native time. Then each candidate (oci+runc, and oci+runsc for every runsc binary and gVisor platform
given) gets a fresh server of its own, and each workload is posted to it; its time there is the server's
``timings_ms.run`` (sandbox start to exit, as a user waits for it; the build is not in it). Medians of
``runs``; a workload's ratio is ``sandbox / (native + 50 ms)`` (a sandbox's own start allowed), and a
candidate's score is the geometric mean of its ratios. Hello world's run and whole request (a cached
binary) are shown apart: the default must not make it slower. Nothing fails on a slow host.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.images import build_images
from gosandbox.backends.docker.reaper import list_sandboxes
from gosandbox.backends.oci.runtime import find_runtime
from gosandbox.bench.scenarios import HELLO, ServerNotReady, free_port, start_server
from gosandbox.bench.workload_table import Measured, print_table
from gosandbox.gotest import TestOptions
from gosandbox.source import DEFAULT_GO_MOD
from gosandbox.toolchain import BUILD_FLAGS

_PRINTS = """package main

import "fmt"

func main() {
\tfor i := 0; i < 20000; i++ {
\t\tfmt.Println("line", i) // unbuffered: one write(2) each
\t}
}
"""
_GETPID = """package main

import (
\t"fmt"
\t"syscall"
)

func main() {
\todd := 0
\tfor i := 0; i < 200000; i++ {
\t\todd += syscall.Getpid() & 1
\t}
\tfmt.Println("getpid: 200000", odd >= 0)
}
"""
_FILES = """package main

import (
\t"bytes"
\t"fmt"
\t"os"
\t"path/filepath"
)

func main() {
\tdir, err := os.MkdirTemp("/tmp", "workload-")
\tif err != nil {
\t\tpanic(err)
\t}
\tdefer os.RemoveAll(dir)
\tdata := bytes.Repeat([]byte("0123456789abcdef"), 256)
\tfor i := 0; i < 2000; i++ {
\t\tname := filepath.Join(dir, fmt.Sprint("f", i))
\t\tif err := os.WriteFile(name, data, 0o600); err != nil {
\t\t\tpanic(err)
\t\t}
\t\tif back, err := os.ReadFile(name); err != nil || !bytes.Equal(back, data) {
\t\t\tpanic(fmt.Sprint("read back: ", err))
\t\t}
\t\tif err := os.Remove(name); err != nil {
\t\t\tpanic(err)
\t\t}
\t}
\tfmt.Println("files: 2000")
}
"""
_GOROUTINES = """package main

import "fmt"

func main() {
\tresults := make(chan int)
\tfor i := 0; i < 10000; i++ {
\t\tgo func(n int) { results <- n % 7 }(i)
\t}
\tsum := 0
\tfor i := 0; i < 10000; i++ {
\t\tsum += <-results
\t}
\tfmt.Println("goroutines: 10000, sum", sum)
}
"""
_ALLOC = """package main

import "fmt"

type node struct{ left, right *node }

func tree(depth int) *node {
\tif depth == 0 {
\t\treturn &node{}
\t}
\treturn &node{tree(depth - 1), tree(depth - 1)}
}

func (n *node) count() int {
\tif n.left == nil {
\t\treturn 1
\t}
\treturn 1 + n.left.count() + n.right.count()
}

func main() {
\tlong := tree(16) // lives through every collection
\ttotal := 0
\tfor i := 0; i < 100; i++ {
\t\ttotal += tree(14).count()
\t\twords := make([]string, 0, 16)
\t\tfor j := 0; j < 2000; j++ {
\t\t\twords = append(words, fmt.Sprint(j))
\t\t}
\t\ttotal += len(words)
\t}
\tfmt.Println("allocated:", total, long.count())
}
"""
_CPU = """package main

import "fmt"

func main() {
\tvar x, acc uint64 = 88172645463325252, 0
\tfor i := 0; i < 100_000_000; i++ {
\t\tx ^= x << 13
\t\tx ^= x >> 7
\t\tx ^= x << 17
\t\tacc += x % 1000
\t}
\tfmt.Println("cpu:", acc)
}
"""
#: A real package's own tests (~0.5 s here, no internal imports): from the pinned toolchain's sources.
TEST_PACKAGE = "regexp/syntax"
#: What every workload may use, in the sandbox (the server's caps) and so natively too: both CPUs.
LIMITS = {"wall_s": 30.0, "memory_mb": 512, "cpus": float(os.cpu_count() or 1), "output_bytes": 1024 * 1024}
_LABEL = "bench-workloads"


@dataclass(frozen=True)
class Workload:
    name: str
    files: dict[str, str]
    test: bool = False  # a `go test` of the package, else a program to run


@dataclass(frozen=True)
class Candidate:
    """A runtime to measure: its label and the server's settings that select it."""

    label: str
    env: dict[str, str]
    runsc: str | None = None  # the runsc binary, to count what its server left


def workloads(goroot: Path) -> list[Workload]:
    """The suite; the test package's files are the pinned toolchain's own."""
    go_version = (goroot / "VERSION").read_text().split()[0].removeprefix("go")
    go_mod = f"module example.com/{TEST_PACKAGE.rsplit('/', 1)[-1]}\n\ngo {'.'.join(go_version.split('.')[:2])}\n"
    package = {p.name: p.read_text() for p in sorted((goroot / "src" / TEST_PACKAGE).glob("*.go"))}
    programs = {
        "20 000 fmt.Println": _PRINTS,
        "200 000 syscall.Getpid": _GETPID,
        "2 000 file write/read/remove in /tmp": _FILES,
        "10 000 goroutines over a channel": _GOROUTINES,
        "allocation-heavy (trees, GC)": _ALLOC,
        "CPU-bound arithmetic": _CPU,
    }
    suite = [Workload(name, {"main.go": source}) for name, source in programs.items()]
    return [*suite, Workload(f"go test {TEST_PACKAGE}", package | {"go.mod": go_mod}, test=True)]


def host_toolchain(dest: Path) -> Path:
    """GOROOT of the builder image's Go, copied to ``dest/go`` (the same toolchain the sandboxes build with).

    The images are built first where they are not current (as every server's start would build them).
    """
    builder = build_images(connect())[0].builder
    created = subprocess.run(  # noqa: S603
        ["docker", "create", "--label", f"gosandbox.instance={_LABEL}", builder, "true"],  # noqa: S607
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    container = created.stdout.strip()
    try:
        copy = subprocess.Popen(["docker", "cp", f"{container}:/usr/local/go", "-"], stdout=subprocess.PIPE)  # noqa: S603, S607
        subprocess.run(["tar", "-x", "-C", str(dest)], stdin=copy.stdout, check=True)  # noqa: S603, S607
        if copy.wait() != 0:
            raise RuntimeError(f"docker cp of the toolchain failed ({copy.returncode})")
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)  # noqa: S603, S607
    return dest / "go"


def _go_env(goroot: Path, work: Path) -> dict[str, str]:
    return {**os.environ, "GOROOT": str(goroot), "PATH": f"{goroot / 'bin'}:{os.environ.get('PATH', '')}",
            "GOCACHE": str(work / "gocache"), "GOPATH": str(work / "gopath"), "GOTOOLCHAIN": "local",
            "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}  # fmt: skip


def native_build(workload: Workload, goroot: Path, package: Path) -> list[str]:
    """Build ``workload`` in the new directory ``package`` with the sandboxes' build flags; the argv that runs it."""
    package.mkdir()
    for name, text in ({"go.mod": DEFAULT_GO_MOD} | workload.files).items():  # the go.mod a sandbox's build adds
        (package / name).write_text(text)
    binary = package / "program"
    command = ["go", "test", "-c"] if workload.test else ["go", "build"]
    subprocess.run([*command, *BUILD_FLAGS, "-o", str(binary), "."], cwd=package,  # noqa: S603
                   env=_go_env(goroot, package.parent), check=True, capture_output=True)  # fmt: skip
    args = TestOptions().binary_args(LIMITS["wall_s"]) if workload.test else []
    return [str(binary), *args]


@dataclass
class Native:
    """Each workload's binary built on the host, and its run times, sampled beside every sandbox run of it.

    On a shared machine the load drifts over the minutes a candidate takes: sampling natively right before each
    sandbox run puts both under the same load, and the median over every candidate's turn is the native time.
    """

    argv: dict[str, list[str]]
    samples: dict[str, list[float]] = field(default_factory=dict)

    def sample(self, name: str) -> None:
        """Run the binary once, directly (stdout and stderr into pipes, as a sandbox's), in its own directory."""
        argv = self.argv[name]
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=Path(argv[0]).parent, capture_output=True, check=False)  # noqa: S603
        self.samples.setdefault(name, []).append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed natively: {done.stderr[-500:]!r}")

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(samples) for name, samples in self.samples.items()}


def native_builds(suite: list[Workload], goroot: Path, work: Path) -> Native:
    return Native({w.name: native_build(w, goroot, work / f"native-{n}") for n, w in enumerate(suite)})


def candidates(runsc_binaries: list[str]) -> list[Candidate]:
    """oci+runc, then oci+runsc for each runsc binary on each gVisor platform it has (ptrace, systrap)."""
    found = [Candidate("oci+runc", {"GOSANDBOX_BACKEND": "oci", "GOSANDBOX_RUNTIME": "runc"})]
    for binary in runsc_binaries:
        version = _runsc_version(binary)
        listing = subprocess.run([binary, "flags"], capture_output=True, check=False)  # noqa: S603
        platforms = ["ptrace", *(["systrap"] if b"systrap" in listing.stdout + listing.stderr else [])]
        for platform in platforms:
            env = {"GOSANDBOX_BACKEND": "oci", "GOSANDBOX_RUNTIME": "runsc", "GOSANDBOX_RUNSC_PATH": binary,
                   "GOSANDBOX_RUNSC_PLATFORM": platform}  # fmt: skip
            found.append(Candidate(f"oci+runsc {version} {platform}", env, binary))
    return found


def _runsc_version(binary: str) -> str:
    """``0.0~20240729`` from ``runsc version 0.0~20240729.0``."""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    words = done.stdout.split()
    return words[2].removesuffix(".0") if len(words) > 2 else "?"


def default_runsc() -> list[str]:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
    found = shutil.which("runsc", path=search)
    return [found] if found else []


def _post(client: httpx.Client, workload: Workload) -> tuple[float, str | None]:
    """One run: its ``timings_ms.run`` in seconds, and what went wrong if it did not pass."""
    body = {"files": workload.files, "limits": LIMITS}
    response = client.post("/test" if workload.test else "/run", json=body)
    result = response.json() if response.status_code == 200 else {}
    ok = result.get("status") == "ok" and (result.get("passed") is True or not workload.test)
    problem = None if ok else f"{workload.name}: HTTP {response.status_code} {str(result or response.text)[:200]}"
    return float((result.get("timings_ms") or {}).get("run", 0)) / 1000, problem


def _hello(client: httpx.Client, measured: Measured, runs: int) -> None:
    """Hello world with its binary cached: the run, and the whole request."""
    source = {"code": HELLO.format(tag="workloads")}
    client.post("/run", json=source)  # built and cached once
    runs_s, totals_s = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = client.post("/run", json=source).json()
        totals_s.append(time.perf_counter() - started)
        runs_s.append(float(result.get("timings_ms", {}).get("run", 0)) / 1000)
    measured.hello_run_s, measured.hello_total_s = statistics.median(runs_s), statistics.median(totals_s)


def measure(candidate: Candidate, suite: list[Workload], state: Path, runs: int, native: Native) -> Measured:
    """Every workload ``runs`` times on a fresh server of this candidate; the server stopped before this returns."""
    measured, port = Measured(), free_port()
    instance = f"bench-{os.getpid()}-w{len(list(state.iterdir()))}"
    state_dir = state / instance
    state_dir.mkdir()
    try:
        server = start_server(port, str(state_dir), instance, **candidate.env)
    except ServerNotReady as exc:
        measured.unavailable = str(exc.code)
        return measured
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            _hello(client, measured, runs)
            for workload in suite:
                samples = []
                for _ in range(runs):
                    native.sample(workload.name)
                    seconds, problem = _post(client, workload)
                    samples += [] if problem else [seconds]  # a failed run's time is no workload's time
                    measured.errors += [problem] if problem else []
                measured.seconds[workload.name] = statistics.median(samples) if samples else math.nan
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        measured.left = _left(candidate, state_dir, instance)
    return measured


def _left(candidate: Candidate, state_dir: Path, instance: str) -> int:
    runtime = candidate.env["GOSANDBOX_RUNTIME"]
    count = len(list_sandboxes(connect(), instance))
    root = state_dir / "oci" / "state" / runtime / instance  # as OciBackend names it
    if root.is_dir():
        count += len(find_runtime(runtime, root, candidate.runsc).list_ids())
    return count


def run_workloads(args: argparse.Namespace, state: Path) -> None:
    """The suite natively, then under every candidate (``args.runsc``: more runsc binaries), as one table."""
    work = state / "workloads"
    work.mkdir()
    goroot = host_toolchain(work)
    suite = workloads(goroot)
    native = native_builds(suite, goroot, work)
    for workload in suite:  # a native time even where no candidate can run
        for _ in range(args.workload_runs):
            native.sample(workload.name)
    servers = work / "servers"
    servers.mkdir()
    results = {}
    for candidate in candidates(default_runsc() + list(args.runsc or [])):
        results[candidate.label] = measure(candidate, suite, servers, args.workload_runs, native)
    print_table(native.medians(), results, args.workload_runs)

"""What one fresh sandbox costs a backend: wall time per run and whole-machine CPU-seconds per run.

For the benchmark and for choosing defaults: run the same binary ``runs`` times, one after another,
through ``backend.execute``, and read the machine's CPU time from ``/proc/stat`` around the lot, so
that the runtime's, the engine's and every other process's share counts, not only the program's.
The machine's background load (sampled for 2 s just before) is subtracted: on a shared machine it
is an estimate, best on a quiet one.

    python -m gosandbox.bench.measure            # docker+runc, oci+runc, oci+runsc, 20 runs each
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gosandbox.backends.base import Backend, BuildJob, ExecJob
from gosandbox.bench.cpu import machine_cpu_s
from gosandbox.limits import Limits
from gosandbox.settings import Settings
from gosandbox.wiring import make_backend

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'


#: How long the machine's background load is sampled before the runs (it is subtracted from their CPU).
BACKGROUND_SAMPLE_S = 2.0


@dataclass(frozen=True)
class RunCost:
    runs: int
    p50_wall_s: float
    #: whole-machine CPU-seconds per run, less the background load measured just before
    cpu_s_per_run: float
    #: CPU-seconds per second the machine spent while idle of our runs (other work on it)
    background_cpu_s_per_s: float
    #: CPU-seconds per run of this process and the children it waited for: all of an OCI run (the runtime
    #: and, for runsc, its Sentry and Gofer are our descendants), only the client's side of a Docker run
    own_cpu_s_per_run: float


def measure_runs(backend: Backend, binary: bytes, runs: int = 20) -> RunCost:
    """``runs`` sequential executions of ``binary``, after one warm-up run that is not counted."""
    job = ExecJob(binary, b"", (), Limits())
    backend.execute(job)
    background = _background_cpu_s_per_s()
    walls = []
    cpu_before, own_before, began = machine_cpu_s(), own_cpu_s(), time.monotonic()
    for _ in range(runs):
        started = time.monotonic()
        backend.execute(job)
        walls.append(time.monotonic() - started)
    busy = machine_cpu_s() - cpu_before - background * (time.monotonic() - began)
    own = own_cpu_s() - own_before
    return RunCost(runs, statistics.median(walls), max(busy, 0.0) / runs, background, own / runs)


def own_cpu_s() -> float:
    """CPU-seconds of this process and of its children that have been waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _background_cpu_s_per_s() -> float:
    before = machine_cpu_s()
    time.sleep(BACKGROUND_SAMPLE_S)
    return (machine_cpu_s() - before) / BACKGROUND_SAMPLE_S


def hello_binary(backend: Backend) -> bytes:
    built = backend.build(BuildJob(files={"main.go": HELLO, "go.mod": "module hello\n\ngo 1.27\n"}, timeout_s=120))
    if built.binary is None:
        raise RuntimeError(f"hello world did not build: {built.output}")
    return built.binary


def _backend(state_dir: Path, kind: str, runtime: str) -> Backend:
    settings = Settings(state_dir=state_dir, instance=f"measure-{kind}-{runtime}", backend=kind, runtime=runtime)
    return make_backend(settings)


def main(runs: int = 20) -> None:
    """Print one line per backend and runtime: p50 wall and CPU-seconds per run of a hello world."""
    with tempfile.TemporaryDirectory(prefix="gosandbox-measure-") as state:
        binary: bytes | None = None
        for kind, runtime in (("docker", "runc"), ("oci", "runc"), ("oci", "runsc")):
            backend = _backend(Path(state), kind, runtime)
            try:
                binary = binary or hello_binary(backend)
                cost = measure_runs(backend, binary, runs)
            finally:
                backend.close()
            line = f"{kind}+{runtime}: p50 {cost.p50_wall_s:.3f} s, {cost.cpu_s_per_run:.3f} CPU-s per run"
            line += f" (own process tree {cost.own_cpu_s_per_run:.3f})"
            print(f"{line}; {runs} runs, background load {cost.background_cpu_s_per_s:.2f} CPU-s/s subtracted")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

"""What ``race: true`` costs: a race build against a normal build of the same programs, in the same run.

``python -m gosandbox.bench.race`` starts the Docker backend (its own instance and state directory), builds a
small concurrent program ``--runs`` times each way, alternating, each time with a new comment so that its package
compiles again (the standard library comes from the builders' warm caches, as in service), runs each binary once,
and prints the p50 of the build and of the run, and the binaries' sizes. Benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from gosandbox.backends.base import BuildJob, ExecJob
from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.limits import Limits
from gosandbox.settings import Settings
from gosandbox.wiring import config_from_settings

PROGRAM = """package main

import (
\t"fmt"
\t"sync"
)

func main() {
\tvar mu sync.Mutex
\ttotal := 0
\tvar wg sync.WaitGroup
\tfor i := 0; i < 8; i++ {
\t\twg.Add(1)
\t\tgo func(n int) {
\t\t\tdefer wg.Done()
\t\t\tfor j := 0; j < 10000; j++ {
\t\t\t\tmu.Lock()
\t\t\t\ttotal += n
\t\t\t\tmu.Unlock()
\t\t\t}
\t\t}(i)
\t}
\twg.Wait()
\tfmt.Println(total)
}
"""


@dataclass
class Samples:
    build_s: list[float] = field(default_factory=list)
    run_s: list[float] = field(default_factory=list)
    binary_bytes: int = 0


def measure(backend: DockerBackend, runs: int) -> dict[str, Samples]:
    """``runs`` builds and runs each way, alternating (a warm-up of each first, left out)."""
    samples = {"normal": Samples(), "race": Samples()}
    for index in range(-1, runs):
        for name, race in (("normal", False), ("race", True)):
            files = {"main.go": f"{PROGRAM}\n// run {index}\n", "go.mod": "module bench\n\ngo 1.27\n"}
            build = backend.build(BuildJob(files, 120.0, race=race))
            if not build.succeeded or build.binary is None:
                raise SystemExit(f"the {name} build failed: {build.output[-2000:]}")
            outcome = backend.execute(
                ExecJob(build.binary, b"", (), Limits(wall_s=20, memory_mb=512), threading.Event())
            )
            if index >= 0:
                samples[name].build_s.append(build.duration_s)
                samples[name].run_s.append(outcome.duration_s)
                samples[name].binary_bytes = len(build.binary)
    return samples


def print_table(samples: dict[str, Samples]) -> None:
    normal = statistics.median(samples["normal"].build_s)
    print("\n| build | runs | build p50 s | build p90 s | run p50 s | binary KiB | build p50 / normal |")
    print("|---|---|---|---|---|---|---|")
    for name, row in samples.items():
        builds = sorted(row.build_s)
        p90 = builds[min(len(builds) - 1, round(0.9 * (len(builds) - 1)))]
        cells = [name, len(builds), f"{statistics.median(builds):.3f}", f"{p90:.3f}",
                 f"{statistics.median(row.run_s):.3f}", row.binary_bytes // 1024,
                 f"{statistics.median(builds) / normal:.1f}x"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="builds each way (after one warm-up each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gosandbox-bench-race-") as state:
        settings = Settings(state_dir=Path(state), instance="bench-race", backend="docker", binary_cache_mb=0)
        backend = DockerBackend(config_from_settings(settings))
        try:
            backend.check_ready()
            print_table(measure(backend, args.runs))
        finally:
            backend.close()


if __name__ == "__main__":
    main()

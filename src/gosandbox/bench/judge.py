"""The judge's row: 20 cases of a small stdin->stdout program in one POST /judge, against 20 sequential POST /run
calls of the same source (its binary cached) on the same server, the default backend and runtime.

Each side is measured ``rounds`` times, alternately (so both share the machine's background load alike); the
table shows the medians of wall time and of CPU-seconds, and their ratios against the target (wall <= 0.4x,
CPU <= 0.5x). The CPU is the server's (the server process and its descendants with every child they waited
for: under the OCI backend the runtime and its sandboxes, see :mod:`gosandbox.bench.cpu`), and, beside it,
the whole machine's (``/proc/stat``), which on a shared machine counts everyone's work too.
``python -m gosandbox.bench --judge``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from gosandbox.bench.cpu import machine_cpu_s, snapshot
from gosandbox.bench.scenarios import free_port, start_server

#: Reads a number and prints its square: a small stdin->stdout program.
SQUARE = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar n int\n\tfmt.Scan(&n)\n\tfmt.Println(n * n)\n}\n'
CASES = 20
#: The target of issue 23: one /judge against 20 /run calls.
WALL_TARGET, CPU_TARGET = 0.4, 0.5


@dataclass(frozen=True)
class Spent:
    wall_s: float
    cpu_s: float
    machine_cpu_s: float


def _measured(work: Callable[[], None], server_cpu_s: Callable[[], float]) -> Spent:
    wall, cpu, machine = time.monotonic(), server_cpu_s(), machine_cpu_s()
    work()
    return Spent(time.monotonic() - wall, server_cpu_s() - cpu, machine_cpu_s() - machine)


def _runs(client: httpx.Client) -> None:
    for n in range(CASES):
        answer = client.post("/run", json={"code": SQUARE, "stdin": f"{n}\n"}).json()
        assert answer["stdout"] == f"{n * n}\n", answer


def _judge(client: httpx.Client) -> None:
    cases = [{"stdin": f"{n}\n", "expected_stdout": f"{n * n}\n"} for n in range(CASES)]
    answer = client.post("/judge", json={"code": SQUARE, "cases": cases}).json()
    assert answer["status"] == "accepted", answer


def measure(url: str, rounds: int, server_cpu_s: Callable[[], float]) -> tuple[list[Spent], list[Spent]]:
    """``rounds`` of 20 /run calls and of one 20-case /judge, alternately, after one warm-up of each."""
    runs, judged = [], []
    with httpx.Client(base_url=url, timeout=300) as client:
        _runs(client)  # the binary cached, the builder warm
        _judge(client)
        for _ in range(rounds):
            runs.append(_measured(lambda: _runs(client), server_cpu_s))
            judged.append(_measured(lambda: _judge(client), server_cpu_s))
    return runs, judged


def _medians(spent: list[Spent]) -> tuple[float, float, float]:
    return (statistics.median(s.wall_s for s in spent), statistics.median(s.cpu_s for s in spent),
            statistics.median(s.machine_cpu_s for s in spent))  # fmt: skip


def print_row(runs: list[Spent], judged: list[Spent], where: str) -> None:
    run, judge = _medians(runs), _medians(judged)
    print(f"\n| {CASES} cases of a stdin->stdout program ({where}) | wall s | server CPU-s | machine CPU-s |")
    print("|---|---|---|---|")
    print(f"| {CASES} sequential /run (binary cached) | {run[0]:.2f} | {run[1]:.2f} | {run[2]:.2f} |")
    print(f"| one /judge with {CASES} cases | {judge[0]:.2f} | {judge[1]:.2f} | {judge[2]:.2f} |")
    ratios = " | ".join(f"{j / r:.2f}x" if r else "-" for j, r in zip(judge, run, strict=True))
    print(f"| /judge / /run (target <= {WALL_TARGET}x wall, <= {CPU_TARGET}x CPU) | {ratios} |")


def judge_row(args: argparse.Namespace, state: Path) -> None:
    """Start a server of its own (default backend and runtime), measure, stop it."""
    port, instance = free_port(), f"bench-judge-{os.getpid()}"
    server = start_server(port, str(state), instance)
    try:
        url = f"http://127.0.0.1:{port}"
        where = httpx.get(f"{url}/version", timeout=10).json()
        runs, judged = measure(url, args.judge_rounds, lambda: snapshot(server.pid, [], instance).server)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    print_row(runs, judged, f"{where.get('backend')}+{where.get('runtime')}, {os.cpu_count()} cores")

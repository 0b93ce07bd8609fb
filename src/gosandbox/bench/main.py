"""Benchmark: gosandbox over HTTP against the origin's way (a cold ``go run`` in a fresh container).

``python -m gosandbox.bench`` starts a server on a free loopback port (its own instance
label and state directory), runs every scenario, stops the server; then the same through a
Redis queue (a redis-server of its own, an API node, two workers of one slot each); and prints
one table. Then the four backend+runtime combinations side by side (:mod:`gosandbox.bench.backends`;
``--backends-only`` for just those), and real programs under each candidate runtime against their native
run (:mod:`gosandbox.bench.workloads`; ``--workloads-only`` for just those). Nothing leaves this machine.
Benchmarks are not tests: nothing fails on a slow host.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
from pathlib import Path

import httpx

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import list_sandboxes
from gosandbox.bench.backends import Measured, origin_measured, run_all
from gosandbox.bench.cluster import queue_cluster
from gosandbox.bench.floor import print_floor, run_floor
from gosandbox.bench.judge import judge_row
from gosandbox.bench.scenarios import (
    HELLO,
    NET_HTTP,
    SUBMIT,
    Row,
    distinct,
    free_port,
    idle_sandbox_mb,
    post,
    rss_mb,
    sequential,
    start_server,
    throughput,
)
from gosandbox.bench.table import print_comparison, print_cpu_parts
from gosandbox.bench.workloads import run_workloads


def _print_table(rows: list[Row], origin: Row, baseline: Row) -> None:
    """``baseline``: the synchronous /run of the embedded server; each row's p50 over it is its overhead."""
    base, sync_p50 = statistics.median(origin.samples_s), statistics.median(baseline.samples_s)
    print("\n| scenario | runs | p50 s | p90 s | runs/s | errors | p50 - sync /run p50 | origin p50 / p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in [origin, *rows]:
        p50, p90 = statistics.median(row.samples_s), row.percentile(0.9)
        rate = f"{row.runs_per_s:.1f}" if row.runs_per_s is not None else "-"
        extra = f"{(p50 - sync_p50) * 1000:+.0f} ms" if row is not origin else "-"
        cells = [row.scenario, len(row.samples_s), f"{p50:.3f}", f"{p90:.3f}", rate, row.errors, extra,
                 f"{base / p50:.1f}x"]  # fmt: skip
        print("| " + " | ".join(map(str, cells)) + " |")


def _summary(scrape: str) -> list[str]:
    """The gosandbox_ samples of a scrape, without histogram buckets and samples that stayed at 0."""
    kept = []
    for line in scrape.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name.startswith("gosandbox_") and not name.endswith(("_bucket", "_created")) and not line.endswith(" 0.0"):
            kept.append(line)
    return kept


def queue_rows(args: argparse.Namespace, state: str) -> list[Row]:
    """The same hello world through Redis: an API node and two workers of one slot each (SQLite store)."""
    with queue_cluster(Path(state) / "queue", start_server) as url, httpx.Client(base_url=url, timeout=60) as client:
        for n in range(4):  # each worker builds and runs once before the clock starts
            post(client, HELLO.format(tag=f"warm-up-{n}"))
        return [
            sequential(client, "Redis, 2 workers: sync /run", distinct(HELLO), args.runs),
            sequential(client, "Redis, 2 workers: submit-and-wait", distinct(HELLO), args.runs, SUBMIT),
            throughput(url, args.clients, args.duration_s, "Redis, 2 workers: "),
        ]


def embedded_scenarios(args: argparse.Namespace, state: str, origin: Row) -> None:
    """The default server's scenarios, the queue's and the origin's way, as one table."""
    port, instance = free_port(), f"bench-{os.getpid()}"
    server = start_server(port, state, instance)
    try:
        url = f"http://127.0.0.1:{port}"
        idle_rss = rss_mb(server.pid)
        idle_sandboxes = idle_sandbox_mb(instance)
        with httpx.Client(base_url=url, timeout=60) as client:
            post(client, HELLO.format(tag="warm-up"))
            post(client, HELLO.format(tag="same"))  # the cache-hit scenario starts with its binary cached
            rows = [
                sequential(client, "hello world, distinct sources", distinct(HELLO), args.runs),
                sequential(client, "hello, submit-and-wait", distinct(HELLO), args.runs, SUBMIT),
                sequential(client, "net/http + httptest + json", distinct(NET_HTTP), args.runs),
                sequential(
                    client, "hello world, same source (binary cache)", lambda _: HELLO.format(tag="same"), args.runs
                ),
            ]
        rows.append(throughput(url, args.clients, args.duration_s))
        scrape = httpx.get(f"{url}/metrics", timeout=10).text  # what an operator would see after this load
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    if not args.no_queue:
        rows += queue_rows(args, state)
    _print_table(rows, origin, rows[0])
    print(
        f"\nserver RSS when idle: {idle_rss:.0f} MB; idle pre-started sandboxes: "
        + ", ".join(f"{mb:.1f} MB" for mb in idle_sandboxes)
    )
    print("\nthe embedded server's /metrics after its scenarios (gosandbox_ samples, histogram buckets left out):")
    print("\n".join(_summary(scrape)))
    left = list_sandboxes(connect(), instance) + list_sandboxes(connect(), "bench-origin")
    print(f"containers left after the benchmark: {len(left)}")


def backends_comparison(args: argparse.Namespace, state: str, origin: Measured) -> None:
    """docker+runc, docker+runsc, oci+runc, oci+runsc, each on a fresh server, and the origin's way."""
    (Path(state) / "backends").mkdir()
    combinations = run_all(Path(state) / "backends", args)
    print_comparison(combinations, origin, args.clients, args.duration_s)
    print_cpu_parts(combinations)
    left = list_sandboxes(connect(), "bench-origin")
    print(f"origin containers left: {len(left)}")


def _leading_rows(args: argparse.Namespace, state: Path) -> bool:
    """The judge's row and the floor, before the rest; True when only one of them was asked for."""
    if args.judge or not (args.no_judge or args.floor_only or args.workloads_only or args.backends_only):
        (state / "judge").mkdir()
        judge_row(args, state / "judge")
    if args.floor_only or not (args.judge or args.no_floor or args.workloads_only or args.backends_only):
        print_floor(run_floor(args, state / "floor"), args)
    return bool(args.judge or args.floor_only)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="sequential runs per scenario")
    parser.add_argument("--origin-runs", type=int, default=3, help="cold `go run`s (~11 s each here)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=20.0, help="each throughput scenario's duration")
    parser.add_argument("--no-queue", action="store_true", help="skip the scenarios through Redis")
    parser.add_argument("--backends-only", action="store_true", help="only the four backend+runtime combinations")
    parser.add_argument("--no-backends", action="store_true", help="skip the backend+runtime comparison")
    parser.add_argument("--workloads-only", action="store_true", help="only the workload suite under each runtime")
    parser.add_argument("--no-workloads", action="store_true", help="skip the workload suite")
    parser.add_argument("--workload-runs", type=int, default=3, help="runs of each workload (the median is shown)")
    parser.add_argument("--floor-only", action="store_true", help="only the floor: builds against a native go build")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor table")
    parser.add_argument("--floor-no-server", action="store_true", help="the floor without the whole-request rows")
    parser.add_argument("--floor-duration-s", type=float, default=15.0, help="each floor row's concurrent period")
    parser.add_argument("--runsc", action="append", metavar="PATH", help="another runsc binary to compare (repeat)")
    parser.add_argument("--judge", action="store_true", help="only the judge's row: one /judge of 20 cases, 20 /run")
    parser.add_argument("--no-judge", action="store_true", help="skip the judge's row")
    parser.add_argument("--judge-rounds", type=int, default=3, help="rounds of each side of the judge's row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gosandbox-bench-") as state:
        if _leading_rows(args, Path(state)):
            return
        if not args.workloads_only:
            origin = origin_measured(args.origin_runs)  # once, for both tables
            if not args.backends_only:
                embedded_scenarios(args, state, origin.row)
            if not args.no_backends:
                backends_comparison(args, state, origin)
        if not (args.backends_only or args.no_workloads):
            run_workloads(args, Path(state))


if __name__ == "__main__":
    main()

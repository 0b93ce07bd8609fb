"""Benchmark: gosandbox over HTTP against the origin's way (a cold ``go run`` in a fresh container).

``python -m gosandbox.bench`` starts a server on a free loopback port (its own instance
label and state directory), runs every scenario, stops the server; then the same through a
Redis queue (a redis-server of its own, an API node, two workers of one slot each); and prints
one table. Then the four backend+runtime combinations side by side (:mod:`gosandbox.bench.backends`;
``--backends-only`` for just those). Nothing leaves this machine. Benchmarks are not tests:
nothing fails on a slow host.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.images import image_names
from gosandbox.backends.docker.reaper import list_sandboxes

if TYPE_CHECKING:
    from gosandbox.bench.backends import Measured

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("hello {tag}") }}\n'
NET_HTTP = """package main

import (
\t"encoding/json"
\t"fmt"
\t"io"
\t"net/http"
\t"net/http/httptest"
)

func main() {{
\tsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {{
\t\tjson.NewEncoder(w).Encode(map[string]string{{"tag": "{tag}"}})
\t}}))
\tdefer srv.Close()
\tresp, err := http.Get(srv.URL)
\tif err != nil {{
\t\tpanic(err)
\t}}
\tbody, _ := io.ReadAll(resp.Body)
\tfmt.Print(string(body))
}}
"""


@dataclass
class Row:
    scenario: str
    samples_s: list[float]
    runs_per_s: float | None = None
    errors: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples_s)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _distinct(template: str) -> Callable[[int], str]:
    return lambda _: template.format(tag=uuid.uuid4().hex)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The synchronous endpoint, or submit-and-wait: a job answered the moment it ends.
RUN, SUBMIT = "/run", "/submissions?wait=60"


def _post(client: httpx.Client, source: str, path: str = RUN) -> tuple[float, int, str]:
    started = time.perf_counter()
    response = client.post(path, json={"code": source})
    elapsed = time.perf_counter() - started
    body = response.json() if response.status_code in (200, 201) else {}
    status = (body.get("result") or {}).get("status", "") if path == SUBMIT else body.get("status", "")
    return elapsed, response.status_code if path == RUN else response.status_code - 1, status


def sequential(client: httpx.Client, name: str, make_source: Callable[[int], str], runs: int, path: str = RUN) -> Row:
    row = Row(name, [])
    for i in range(runs):
        elapsed, code, status = _post(client, make_source(i), path)
        row.samples_s.append(elapsed)
        row.errors += code != 200 or status != "ok"
    return row


def throughput(
    url: str, clients: int, duration_s: float, label: str = "", make_source: Callable[[int], str] | None = None
) -> Row:
    """``clients`` threads posting hello worlds for ``duration_s``; distinct sources unless ``make_source``."""
    row = Row(f"{label}hello, {clients} concurrent clients, {duration_s:.0f} s", [])
    source = make_source or (lambda i: HELLO.format(tag=f"tp-{i}-{uuid.uuid4().hex}"))
    lock = threading.Lock()
    deadline = time.perf_counter() + duration_s

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            i = 0
            while time.perf_counter() < deadline:
                elapsed, code, status = _post(client, source(n * 1_000_000 + i))
                with lock:
                    row.samples_s.append(elapsed)
                    row.errors += code != 200 or status != "ok"
                i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row.runs_per_s = len(row.samples_s) / (time.perf_counter() - started)
    return row


def origin_way(runs: int) -> Row:
    """The origin: ``docker run`` of a Go image, hardened, ``go run`` with a cold build cache."""
    builder = image_names().builder
    row = Row("origin: cold `go run` in a fresh container", [])
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)  # the image's non-root user reads the source
        for i in range(runs):
            Path(tmp, "main.go").write_text(HELLO.format(tag=f"origin-{i}"))
            command = [
                "docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--cpus", "2", "--memory", "1g", "--pids-limit", "256",
                "--tmpfs", "/tmp:size=512m,mode=1777,exec", "--label", "gosandbox.instance=bench-origin",
                "-e", "GOCACHE=/tmp/cold-cache", "-v", f"{tmp}:/src:ro", "-w", "/src",
                "--entrypoint", "/usr/local/go/bin/go", builder, "run", "main.go",
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            row.samples_s.append(time.perf_counter() - started)
            row.errors += done.returncode != 0 or done.stdout != f"hello origin-{i}\n"
    return row


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _idle_sandbox_mb(instance: str) -> list[float]:
    client = connect()
    sizes = []
    for container_id in list_sandboxes(client, instance):
        stats = client.api.stats(container_id, stream=False)
        usage = stats.get("memory_stats", {}).get("usage")
        if usage:
            sizes.append(usage / 1024 / 1024)
    return sizes


class ServerNotReady(SystemExit):
    """The server exited, or did not answer /readyz in time (the message says which)."""


def _start_server(port: int, state_dir: str, instance: str, **extra_env: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GOSANDBOX_STATE_DIR": state_dir, "GOSANDBOX_INSTANCE": instance,
           "GOSANDBOX_LOG_LEVEL": "warning", **extra_env}  # fmt: skip
    command = [sys.executable, "-m", "gosandbox.cli.main", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerNotReady(f"the server exited with status {server.returncode} before it was ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                time.sleep(1.5)  # let the pool fill
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    server.wait(timeout=30)
    raise ServerNotReady("the server did not become ready within 60 s")


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
    from gosandbox.bench.cluster import queue_cluster  # noqa: PLC0415

    with queue_cluster(Path(state) / "queue", _start_server) as url, httpx.Client(base_url=url, timeout=60) as client:
        for n in range(4):  # each worker builds and runs once before the clock starts
            _post(client, HELLO.format(tag=f"warm-up-{n}"))
        return [
            sequential(client, "Redis, 2 workers: sync /run", _distinct(HELLO), args.runs),
            sequential(client, "Redis, 2 workers: submit-and-wait", _distinct(HELLO), args.runs, SUBMIT),
            throughput(url, args.clients, args.duration_s, "Redis, 2 workers: "),
        ]


def embedded_scenarios(args: argparse.Namespace, state: str, origin: Row) -> None:
    """The default server's scenarios, the queue's and the origin's way, as one table."""
    port, instance = free_port(), f"bench-{os.getpid()}"
    server = _start_server(port, state, instance)
    try:
        url = f"http://127.0.0.1:{port}"
        idle_rss = _rss_mb(server.pid)
        idle_sandboxes = _idle_sandbox_mb(instance)
        with httpx.Client(base_url=url, timeout=60) as client:
            _post(client, HELLO.format(tag="warm-up"))
            _post(client, HELLO.format(tag="same"))  # the cache-hit scenario starts with its binary cached
            rows = [
                sequential(client, "hello world, distinct sources", _distinct(HELLO), args.runs),
                sequential(client, "hello, submit-and-wait", _distinct(HELLO), args.runs, SUBMIT),
                sequential(client, "net/http + httptest + json", _distinct(NET_HTTP), args.runs),
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
    from gosandbox.bench.backends import run_all  # noqa: PLC0415 - bench_backends imports this module
    from gosandbox.bench.table import print_comparison, print_cpu_parts  # noqa: PLC0415

    (Path(state) / "backends").mkdir()
    combinations = run_all(Path(state) / "backends", args)
    print_comparison(combinations, origin, args.clients, args.duration_s)
    print_cpu_parts(combinations)
    left = list_sandboxes(connect(), "bench-origin")
    print(f"origin containers left: {len(left)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="sequential runs per scenario")
    parser.add_argument("--origin-runs", type=int, default=3, help="cold `go run`s (~11 s each here)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=20.0, help="each throughput scenario's duration")
    parser.add_argument("--no-queue", action="store_true", help="skip the scenarios through Redis")
    parser.add_argument("--backends-only", action="store_true", help="only the four backend+runtime combinations")
    parser.add_argument("--no-backends", action="store_true", help="skip the backend+runtime comparison")
    args = parser.parse_args()
    from gosandbox.bench.backends import origin_measured  # noqa: PLC0415 - bench_backends imports this module

    origin = origin_measured(args.origin_runs)  # once, for both tables
    with tempfile.TemporaryDirectory(prefix="gosandbox-bench-") as state:
        if not args.backends_only:
            embedded_scenarios(args, state, origin.row)
        if not args.no_backends:
            backends_comparison(args, state, origin)


if __name__ == "__main__":
    main()

"""Fairness between API keys: how long one key's hello world waits behind another key's full queue.

``python -m gosandbox.bench.fairness`` starts a server of its own (``GOSANDBOX_AUTH=required``, two
keys, ``--slots`` run slots) on a free loopback port; key A submits ``--jobs`` programs that sleep
``--job-s`` seconds (``POST /submissions``, as fast as it can); once A's jobs hold every slot, key B
sends one hello world to the synchronous ``POST /run`` and the time to its answer is B's wait.
``--queue``: the same through Redis (a redis-server of its own, an API node, two workers of one slot
each). A's remaining jobs are cancelled at the end. Nothing leaves this machine; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gosandbox.bench.cluster import queue_cluster
from gosandbox.bench.scenarios import HELLO, free_port, start_server

SLEEPER = 'package main\n\nimport "time"\n\nfunc main() {{ time.Sleep({ms} * time.Millisecond) }} // {tag}\n'


def _make_key(state_dir: str, name: str, **env: str) -> str:
    command = [sys.executable, "-m", "gosandbox.cli.main", "keys", "create", "--name", name, "--rate", "100/s",
               "--burst", "200", "--daily", "0"]  # fmt: skip
    environment = {**os.environ, "GOSANDBOX_STATE_DIR": state_dir, **env}
    done = subprocess.run(command, env=environment, capture_output=True, check=True, text=True)  # noqa: S603
    return done.stdout.strip()


@contextmanager
def _embedded(state_dir: str, slots: int) -> Iterator[str]:
    port = free_port()
    server = start_server(port, state_dir, f"bench-fair-{os.getpid()}", GOSANDBOX_AUTH="required",
                          GOSANDBOX_MAX_CONCURRENT_RUNS=str(slots))  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)


@contextmanager
def _distributed(state_dir: str) -> Iterator[str]:
    def start(port: int, directory: str, instance: str, **env: str) -> subprocess.Popen[bytes]:
        return start_server(port, directory, instance, GOSANDBOX_AUTH="required", **env)

    with queue_cluster(Path(state_dir) / "queue", start) as url:
        yield url


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"})


def _running(client: httpx.Client, ids: list[str]) -> int:
    states = [client.get(f"/submissions/{i}").json().get("state") for i in ids]
    return states.count("running")


def measure(url: str, keys: tuple[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """A's flood, then B's one /run: B's wait, A's job time, where B's job came among A's."""
    with _client(url, keys[0]) as a, _client(url, keys[1]) as b:
        b.post("/run", json={"code": HELLO.format(tag="warm-up b")}).raise_for_status()
        started = time.perf_counter()
        a.post("/run", json={"code": SLEEPER.format(ms=int(args.job_s * 1000), tag="warm-up")}).raise_for_status()
        job_s = time.perf_counter() - started  # one of A's jobs, alone, build included (its binary is cached now)
        flood = {"code": SLEEPER.format(ms=int(args.job_s * 1000), tag="flood"), "limits": {"wall_s": args.job_s + 5}}
        ids = []
        for _ in range(args.jobs):
            response = a.post("/submissions", json=flood)
            response.raise_for_status()
            ids.append(response.json()["id"])
        deadline = time.monotonic() + 30
        while _running(a, ids[: args.slots * 2]) < args.slots and time.monotonic() < deadline:
            time.sleep(0.1)
        started = time.perf_counter()
        answer = b.post("/run", json={"code": HELLO.format(tag="b")})
        waited = time.perf_counter() - started
        finished_before = sum(1 for i in ids if a.get(f"/submissions/{i}").json().get("state") == "done")
        for submission_id in ids:
            a.delete(f"/submissions/{submission_id}")
    return {"b_wait_s": waited, "b_status": answer.status_code, "a_job_s": job_s,
            "a_jobs_done_before_b": finished_before}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=12, help="key A's jobs")
    parser.add_argument("--job-s", type=float, default=3.0, help="how long each of A's jobs sleeps")
    parser.add_argument("--slots", type=int, default=2, help="run slots of the embedded server")
    parser.add_argument("--queue", action="store_true", help="through Redis: an API node, two workers of one slot")
    parser.add_argument("--backend", default="docker", help="GOSANDBOX_BACKEND of the server and workers")
    args = parser.parse_args()
    os.environ["GOSANDBOX_BACKEND"] = args.backend  # the servers and workers started here inherit it
    if args.queue:
        args.slots = 2
    with tempfile.TemporaryDirectory(prefix="gosandbox-bench-fair-") as state:
        # The keys go into the store the API node reads (its state directory's SQLite file).
        where = str(Path(state) / "queue") if args.queue else state
        with _distributed(state) if args.queue else _embedded(state, args.slots) as url:
            keys = (_make_key(where, "key-a"), _make_key(where, "key-b"))
            figures = measure(url, keys, args)
    mode = "Redis, 2 workers of 1 slot" if args.queue else f"embedded, {args.slots} slots"
    print(f"\nfairness ({mode}): key A {args.jobs} x {args.job_s:g} s jobs queued, then key B's hello world on /run")
    print("| B's wait s | A's job alone s | B's wait / A's job | A's jobs done before B's answer | B's status |")
    print("|---|---|---|---|---|")
    ratio = figures["b_wait_s"] / figures["a_job_s"]
    print(f"| {figures['b_wait_s']:.2f} | {figures['a_job_s']:.2f} | {ratio:.2f} | "
          f"{figures['a_jobs_done_before_b']} | {figures['b_status']} |")  # fmt: skip


if __name__ == "__main__":
    main()

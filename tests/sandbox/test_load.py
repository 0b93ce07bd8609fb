"""Load: 500 mixed requests at concurrency 16 against a real server on loopback.

Every verdict must be right, no 5xx (429 with Retry-After is allowed), no container left,
and the server's memory stays bounded. Prints its numbers (run with -s to see them).
"""

from __future__ import annotations

import random
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support.docker_helpers import TEST_INSTANCE, Server, serving

pytestmark = pytest.mark.load

REQUESTS, CLIENTS = 500, 16
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {{ fmt.Println("load {n}") }}\n'
CASES: dict[str, tuple[Callable[[int], str], dict[str, float], str]] = {
    "hello": (lambda n: HELLO.format(n=n), {}, "ok"),
    "compile_error": (lambda n: f"package main\n\nfunc main() {{ undefined{n}() }}\n", {}, "compile_error"),
    "endless_loop": (
        lambda n: f"package main\n\nfunc main() {{ n := {n}; for {{ n++ }} }}\n",
        {"wall_s": 1},
        "timeout",
    ),
    "memory_hog": (
        lambda n: (
            "package main\n\nfunc main() {\n\tvar keep [][]byte\n"
            f"\tfor i := 0; ; i++ {{ b := make([]byte, 1<<20); b[i%{n + 1}] = 1; keep = append(keep, b) }}\n}}\n"
        ),
        {"memory_mb": 32},
        "memory_limit",
    ),
}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path, f"{TEST_INSTANCE}-load") as server:
        yield server


class Load:
    """Shared state of the client threads: the job queue and what came back."""

    def __init__(self, server: Server) -> None:
        assert server.process is not None
        self.server, self.pid = server, server.process.pid
        kinds = [list(CASES)[i % len(CASES)] for i in range(REQUESTS)]
        random.Random(7).shuffle(kinds)
        self.jobs = iter(enumerate(kinds))
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.wrong: list[str] = []
        self.latencies: list[float] = []
        self.rss_before = self.rss_peak = _rss_mb(self.pid)

    def next_job(self) -> tuple[int, str] | None:
        with self.lock:
            return next(self.jobs, None)

    def post(self, http: httpx.Client, body: dict[str, object]) -> httpx.Response:
        response = http.post("/run", json=body)
        while response.status_code == 429:
            assert response.headers.get("retry-after"), "429 without Retry-After"
            with self.lock:
                self.outcomes["429"] += 1
            time.sleep(float(response.headers["retry-after"]))
            response = http.post("/run", json=body)
        return response

    def record(self, kind: str, response: httpx.Response, started: float) -> None:
        expected = CASES[kind][2]
        with self.lock:
            self.latencies.append(time.perf_counter() - started)
            self.rss_peak = max(self.rss_peak, _rss_mb(self.pid))
            if response.status_code != 200:
                self.wrong.append(f"{kind}: HTTP {response.status_code} {response.text[:200]}")
            elif (status := response.json()["status"]) != expected:
                self.wrong.append(f"{kind}: {status} (expected {expected})")
            else:
                self.outcomes[kind] += 1

    def client(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=120) as http:
            while (job := self.next_job()) is not None:
                n, kind = job
                make, limits, _ = CASES[kind]
                started = time.perf_counter()
                self.record(kind, self.post(http, {"code": make(n), "limits": limits}), started)


def test_500_mixed_requests_at_concurrency_16(server: Server) -> None:
    load = Load(server)
    started = time.perf_counter()
    threads = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(
        f"\nload: {REQUESTS} requests, {CLIENTS} clients, {elapsed:.1f} s ({REQUESTS / elapsed:.1f} req/s); "
        f"latency p50 {statistics.median(load.latencies):.2f} s, max {max(load.latencies):.2f} s; "
        f"outcomes {dict(load.outcomes)}; server RSS {load.rss_before:.0f} -> peak {load.rss_peak:.0f} MB"
    )
    assert load.wrong == []
    assert sum(load.outcomes[k] for k in CASES) == REQUESTS
    assert load.rss_peak < load.rss_before + 150
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=120) == 0
    assert server.sandboxes() == []

"""A flood of 1 MiB bodies of 131 000 keys against the real ``gosandbox serve``: its memory and its health.

Before the parsing slots and the JSON ceiling, 16 such bodies at once took up to 6.3 s each, the
server's RSS went from 57 to 633 MB (1404 MB in a longer run, 793 MB after it) and /healthz stalled
up to 5.7 s. Every body is refused here before any job exists, so no sandbox is made for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from support.docker_helpers import TEST_INSTANCE, serving
from support.parsing_floods import ENDPOINTS, JSON, flood_body

PARALLEL, ROUNDS = 16, 4
SAMPLE_S = 0.05


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class Every:
    """Calls ``probe`` every :data:`SAMPLE_S` in a thread until stopped; keeps what it returns."""

    def __init__(self, probe: Callable[[], float]) -> None:
        self.probe, self.values, self._stop = probe, list[float](), threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.values.append(self.probe())

    def __enter__(self) -> Every:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _health_latency(url: str) -> Callable[[], float]:
    client = httpx.Client(timeout=5)

    def probe() -> float:
        started = time.monotonic()
        try:
            ok = client.get(f"{url}/healthz").status_code == 200
        except httpx.HTTPError:
            ok = False
        return time.monotonic() - started if ok else float("inf")

    return probe


def _settled_rss(pid: int, below_mb: float | None = None, timeout_s: float = 5.0) -> float:
    """The RSS once it stops moving (or falls under ``below_mb``), after at most ``timeout_s``."""
    deadline, last = time.monotonic() + timeout_s, rss_mb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mb(pid)
        if (below_mb is not None and now <= below_mb) or (below_mb is None and abs(now - last) < 1):
            return now
        last = now
    return rss_mb(pid)


def _flood(url: str, bodies: dict[str, bytes]) -> list[httpx.Response]:
    def post(index: int) -> httpx.Response:
        endpoint = ENDPOINTS[index % len(ENDPOINTS)]
        with httpx.Client(timeout=30) as client:
            return client.post(url + endpoint, content=bodies[endpoint], headers=JSON)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(post, range(PARALLEL * ROUNDS)))


def test_a_flood_of_131k_key_bodies_leaves_the_servers_memory_and_health_alone(tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-parse-flood"
    bodies = {endpoint: flood_body(endpoint) for endpoint in ENDPOINTS}
    with serving(tmp_path, instance, {"GOSANDBOX_LOG_LEVEL": "warning"}) as server:
        pid = server.process.pid
        for endpoint in ENDPOINTS:  # every path warmed up once
            httpx.post(server.url + endpoint, content=bodies[endpoint], headers=JSON, timeout=30)
        baseline = _settled_rss(pid)
        with Every(lambda: rss_mb(pid)) as memory, Every(_health_latency(server.url)) as health:
            started = time.monotonic()
            answers = _flood(server.url, bodies)
            took = time.monotonic() - started
            time.sleep(0.5)
        after = _settled_rss(pid, below_mb=baseline + 10, timeout_s=20)
        log = server.stderr()

    peak, slowest = max(memory.values), max(health.values)
    print(f"\n{len(answers)} bodies in {took:.1f} s; RSS {baseline:.0f} MB -> peak {peak:.0f} -> after {after:.0f};"
          f" slowest /healthz {slowest * 1000:.0f} ms of {len(health.values)}")  # fmt: skip
    assert {a.status_code for a in answers} <= {413, 422}, {a.status_code for a in answers}
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert peak <= baseline + 200, f"RSS {baseline:.0f} -> {peak:.0f} MB"
    assert slowest < 0.5, f"/healthz took {slowest:.2f} s"
    assert after <= baseline + 50, f"RSS {baseline:.0f} MB before, {after:.0f} MB after"
    assert "Traceback" not in log

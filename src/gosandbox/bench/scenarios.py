"""The benchmark's building blocks: the programs, a timed row, sequential and concurrent clients, the
origin's way (a cold ``go run`` in a fresh container) and a server of its own on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.images import image_names
from gosandbox.backends.docker.reaper import list_sandboxes

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


def distinct(template: str) -> Callable[[int], str]:
    return lambda _: template.format(tag=uuid.uuid4().hex)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The synchronous endpoint, or submit-and-wait: a job answered the moment it ends.
RUN, SUBMIT = "/run", "/submissions?wait=60"


def post(client: httpx.Client, source: str, path: str = RUN) -> tuple[float, int, str]:
    started = time.perf_counter()
    response = client.post(path, json={"code": source})
    elapsed = time.perf_counter() - started
    body = response.json() if response.status_code in (200, 201) else {}
    status = (body.get("result") or {}).get("status", "") if path == SUBMIT else body.get("status", "")
    return elapsed, response.status_code if path == RUN else response.status_code - 1, status


def sequential(client: httpx.Client, name: str, make_source: Callable[[int], str], runs: int, path: str = RUN) -> Row:
    row = Row(name, [])
    for i in range(runs):
        elapsed, code, status = post(client, make_source(i), path)
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
                elapsed, code, status = post(client, source(n * 1_000_000 + i))
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def idle_sandbox_mb(instance: str) -> list[float]:
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


def start_server(port: int, state_dir: str, instance: str, **extra_env: str) -> subprocess.Popen[bytes]:
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

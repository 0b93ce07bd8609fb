"""Clients that ask for large answers and never read them cannot pin the server's memory.

A real ``gosandbox serve`` process (its uvicorn and HTTP edge; the fake backend, whose program prints
1 MiB of U+0001: a 6 MiB JSON answer) on loopback, with a write deadline of 2 s. Six raw sockets
(a 4 KiB receive buffer each) send ``GET /submissions/{id}`` and read nothing. What the server's RSS
holds while they stall may grow by at most 50 MB, ``/healthz`` answers at once, each stalled connection is cut after the
deadline (its client then finds a partial answer), and the memory goes back once they are cut.
Before: such clients grew the server by ~13 MB each, it kept the memory after they left, and they were never cut.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.docker_helpers import free_port

OUTPUT_BYTES = 1024 * 1024
READERS = 6
WRITE_TIMEOUT_S = 2.0
MB = 1024 * 1024


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    script = Path(__file__).parents[1] / "support" / "stall_server.py"
    env = {**os.environ, "GOSANDBOX_WRITE_TIMEOUT_S": str(WRITE_TIMEOUT_S)}
    process = subprocess.Popen([sys.executable, str(script), str(port), str(tmp_path), str(OUTPUT_BYTES)],
                               env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{url}/readyz"):
            assert process.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.05)
        yield Server(url, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stalled_reader(url: str, path: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect((host, int(port)))
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return connection


def read_all(connection: socket.socket) -> int:
    """What is left to read on ``connection`` (until the server closes or resets it), in bytes."""
    connection.settimeout(5)
    total = 0
    try:
        while chunk := connection.recv(1 << 20):
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


def test_readers_that_take_nothing_are_cut_and_pin_no_memory(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        created = client.post("/submissions?wait=30", json={"code": "package main\n\nfunc main() {}\n",
                                                            "limits": {"output_bytes": OUTPUT_BYTES}})  # fmt: skip
        path = f"/submissions/{created.json()['id']}"
        answer = len(client.get(path).content)
        assert answer > 6 * OUTPUT_BYTES
        for _ in range(3):  # the server's steady state after answers of this size
            client.get(path)
    time.sleep(0.5)
    before = server.rss_mb()
    readers = [stalled_reader(server.url, path) for _ in range(READERS)]
    peak, held, started = before, 0.0, time.monotonic()
    while time.monotonic() - started < WRITE_TIMEOUT_S + 2:
        peak = max(peak, server.rss_mb())
        if not held and time.monotonic() - started > WRITE_TIMEOUT_S * 0.75:
            held = server.rss_mb()  # every answer is rendered and buffered as far as it goes; none is cut yet
        time.sleep(0.1)
    healthz_started = time.monotonic()
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    healthz_s = time.monotonic() - healthz_started
    read = [read_all(reader) for reader in readers]
    after = server.rss_mb()
    for reader in readers:
        reader.close()
    figures = (f"RSS {before:.0f} MB, held while stalled {held:.0f} MB (peak {peak:.0f} MB), after the cut "
               f"{after:.0f} MB; read {read} of {answer}")  # fmt: skip
    print(figures)
    # The peak is the answers' rendering, at once for all six (not bounded here: see SECURITY.md); what the
    # stalled readers hold, and what stays after them, is.
    assert held - before <= 50, figures
    assert all(n < answer for n in read), figures  # cut, not waited for: each got a part at most
    assert after - before <= 20, figures
    assert healthz_s < 1.0, figures

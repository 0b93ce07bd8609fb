"""The round trip of an interactive run: from a stdin message to the program's answer, over loopback.

``python -m gosandbox.bench.interactive [--exchanges 50] [--url URL]`` starts a server on this host's default
backend and runtime (or measures the one at ``--url``), opens ``/runs/interactive`` with a program that answers
each line it reads, and times ``--exchanges`` exchanges: the client sends a line only after the previous answer
came, and the clock runs from the send to the ``stdout`` event that carries the answer. It prints the median
(p50), p90, the fastest and the slowest.

The path it measures: the client's WebSocket message, the server's handler, the live stdin's queue, the backend's
feeder (a pipe under runc, the supervisor's channel under runsc), the program, its stdout pipe, the backend's
reader, the job's output events (gathered for up to 10 ms: a program writing byte by byte costs an event per
gathering, not per byte) and the event's WebSocket message.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from websockets.sync.client import ClientConnection, connect

#: Answers every line it reads until EOF.
ECHO = """package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	lines := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	for lines.Scan() {
		fmt.Println("pong", lines.Text())
	}
}
"""


@contextmanager
def local_server() -> Iterator[str]:
    """A server on this host's default backend (the settings' ``auto``), on a free loopback port."""
    import socket  # noqa: PLC0415

    from gosandbox.app import create_app  # noqa: PLC0415
    from gosandbox.settings import Settings  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="gosandbox-bench-interactive-") as state:
        settings = Settings(state_dir=Path(state), instance="bench-interactive", binary_cache_mb=0)
        server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(60)


def _stdout_until(ws: ClientConnection, wanted: str) -> None:
    seen = ""
    while wanted not in seen:
        message = json.loads(ws.recv(timeout=60))
        if message.get("type") == "error":
            raise SystemExit(f"the server closed the run: {message['message']}")
        if message.get("event") == "stdout":
            seen += message["data"]["text"]


def exchanges(url: str, count: int) -> list[float]:
    """Seconds from each stdin message to the answer's stdout event."""
    times = []
    with connect(url.replace("http", "ws", 1) + "/runs/interactive", open_timeout=30) as ws:
        run = {"files": {"main.go": ECHO}, "limits": {"wall_s": 30}}
        ws.send(json.dumps({"type": "start", "run": run}))
        _stdout_until(ws, "ready\n")
        for index in range(count):
            started = time.perf_counter()
            ws.send(json.dumps({"type": "stdin", "data": f"{index}\n"}))
            _stdout_until(ws, f"pong {index}\n")
            times.append(time.perf_counter() - started)
        ws.send(json.dumps({"type": "eof"}))
    return times


def report(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return (f"{len(ms)} exchanges: p50 {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, "
            f"min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exchanges", type=int, default=50)
    parser.add_argument("--url", help="a running server (default: start one on this host's default backend)")
    options = parser.parse_args()
    if options.url:
        print(report(exchanges(options.url, options.exchanges)))
        return
    with local_server() as url:
        print(report(exchanges(url, options.exchanges)))


if __name__ == "__main__":
    main()

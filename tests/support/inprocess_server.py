"""The app under a real uvicorn on loopback, in a thread of the test: real sockets (clients that hang up,
bodies that arrive slowly), with any backend (the FakeBackend) and the app's objects at hand."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from support.docker_helpers import free_port


@contextmanager
def uvicorn_serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` (its lifespan included) on 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        assert not thread.is_alive(), "uvicorn did not stop within 15 s"


def send_request(url: str, path: str, body: bytes, *, declared: int | None = None) -> socket.socket:
    """Open a connection and send a POST head and ``body`` (``declared``: the Content-Length, if not its size)."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    length = len(body) if declared is None else declared
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n")  # fmt: skip
    connection.sendall(head.encode() + body)
    return connection


def read_status(connection: socket.socket) -> tuple[int, dict[str, str]]:
    """The status code and headers (lower-cased names) of the answer on ``connection``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return int(lines[0].split()[1]), {k.strip().lower(): v.strip() for k, v in headers.items()}

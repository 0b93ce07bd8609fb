"""A loopback HTTP receiver of webhooks and Judge0 callbacks, for the tests that need one to call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gosandbox.jobs.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from support.app_helpers import WAIT_S


@dataclass
class Callback:
    """One request the receiver got."""

    method: str
    path: str
    signature: str  # the signature header, "" when there was none
    body: bytes
    timestamp: str = ""  # the timestamp header the signature covers


@dataclass
class Receiver:
    """A receiver on 127.0.0.1 answering each POST or PUT with the next of ``statuses`` (the last repeats)."""

    statuses: list[int]
    server: ThreadingHTTPServer
    received: list[Callback] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/hook"

    def wait_for(self, path: str, timeout_s: float = WAIT_S) -> Callback:
        """The first request to ``path``, waiting up to ``timeout_s`` for it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                found = [callback for callback in self.received if callback.path == path]
            if found:
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"no callback to {path} within {timeout_s} s")

    def record(self, callback: Callback) -> int:
        """Keep ``callback`` and give the status to answer it with."""
        with self.lock:
            self.received.append(callback)
            return self.statuses[min(len(self.received), len(self.statuses)) - 1]


@contextmanager
def receiving(statuses: Sequence[int] = (200,)) -> Iterator[Receiver]:
    """A running :class:`Receiver` answering with ``statuses``, shut down at the end."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            signed = self.headers.get(SIGNATURE_HEADER, ""), self.headers.get(TIMESTAMP_HEADER, "")
            status = receiver.record(Callback(self.command, self.path, signed[0], body, signed[1]))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(list(statuses), server)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT_S)

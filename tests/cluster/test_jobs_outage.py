"""The database goes away and comes back: 503 with a clear detail meanwhile, then service without a restart.

The real PostgreSQL stays up for the other tests; the app reaches it through a loopback TCP
forwarder that this test cuts (every connection closed, the port refused) and restores.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import MAIN, make_settings
from support.cluster import postgres_schema
from support.docker_helpers import TEST_INSTANCE


class Forwarder:
    """127.0.0.1:<port> → the PostgreSQL port, until ``cut``; ``restore`` listens on the same port again."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._connections: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port, self._listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        assert self._listener is not None
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self._listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@pytest.fixture
def forwarder() -> Iterator[Forwarder]:
    forwarder = Forwarder()
    forwarder.restore()
    yield forwarder
    with contextlib.suppress(AssertionError, OSError):
        forwarder.cut()


def test_an_unreachable_database_gives_503_then_recovers_without_a_restart(
    tmp_path: Path, forwarder: Forwarder
) -> None:
    with postgres_schema(f"outage_{TEST_INSTANCE.replace('-', '_')}") as direct_url:
        url = direct_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{forwarder.port}/")
        settings = make_settings(tmp_path, database_url=url.replace("?", "?connect_timeout=2&"))
        with TestClient(create_app(settings, backend=FakeBackend())) as client:
            assert client.post("/run", json={"code": MAIN, "stdin": "before"}).json()["stdout"] == "before"
            forwarder.cut()
            for method, path in (("POST", "/submissions"), ("POST", "/run")):
                refused = client.request(method, path, json={"code": MAIN})
                assert refused.status_code == 503, refused.text
                assert refused.headers["content-type"] == "application/problem+json"
                assert "database" in refused.json()["detail"]
                assert "gosandbox:gosandbox" not in refused.text  # no credentials in the answer
            readiness = client.get("/readyz")
            assert readiness.status_code == 503, readiness.text
            assert "GOSANDBOX_DATABASE_URL" in readiness.json()["detail"]
            assert client.get("/healthz").status_code == 200
            forwarder.restore()
            assert client.post("/run", json={"code": MAIN, "stdin": "after"}).json()["stdout"] == "after"
            assert client.get("/readyz").status_code == 200

"""``gosandbox serve`` as a real process for tests: started on a free port, its stderr in a file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from docker_helpers import free_port, reap_until_quiet


@dataclass
class Serve:
    """``gosandbox serve`` (the installed command), its stderr kept in a file."""

    state_dir: Path
    instance: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(state_dir: Path, instance: str, name: str, env: Mapping[str, str] | None = None) -> Serve:
    port, log = free_port(), state_dir / f"{name}.log"
    env = {**os.environ, "GOSANDBOX_STATE_DIR": str(state_dir), "GOSANDBOX_INSTANCE": instance,
           "GOSANDBOX_POOL_SIZE": "2", "GOSANDBOX_LOG_LEVEL": "info", **(env or {})}  # fmt: skip
    command = [str(Path(sys.executable).with_name("gosandbox")), "serve", "--port", str(port)]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    server = Serve(state_dir, instance, port, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, server.stderr()
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()  # a server that did not start is not left behind
    process.wait()
    raise AssertionError(f"the server did not become ready within 30 s:\n{server.stderr()}")


@contextmanager
def serving(state_dir: Path, instance: str, env: Mapping[str, str] | None = None) -> Iterator[list[Serve]]:
    """Servers started by the test (appended to the list); each killed if still running at the end."""
    servers = [start_server(state_dir, instance, "first", env)]
    try:
        yield servers
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
        reap_until_quiet(instance)

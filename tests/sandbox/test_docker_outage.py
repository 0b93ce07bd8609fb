"""The Docker engine stops under a running server: clear 503s, then recovery without a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.docker_helpers import TEST_INSTANCE, Server, serving

ENSURE_DOCKER = Path(__file__).resolve().parents[2] / "scripts" / "ensure-docker.sh"


def _engine_answers() -> bool:
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, check=False)
    return done.returncode == 0


def _stop_engine() -> None:
    """SIGTERM to dockerd (its pid file names it), then wait until it is gone."""
    pid = int(Path("/var/run/docker.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) or _engine_answers():
        assert time.monotonic() < deadline, "dockerd did not stop within 60 s"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    try:
        with serving(tmp_path, f"{TEST_INSTANCE}-outage") as server:
            yield server
    finally:
        subprocess.run([str(ENSURE_DOCKER)], check=True)  # the engine is back whatever happened


def _problem(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail: str = response.json()["detail"]
    return detail


def test_engine_outage_answers_503_then_recovers(server: Server) -> None:
    assert httpx.post(f"{server.url}/run", timeout=30).json()["status"] == "ok"
    _stop_engine()
    try:
        assert "Docker engine" in _problem(httpx.get(f"{server.url}/readyz", timeout=10))
        assert "Docker engine" in _problem(httpx.post(f"{server.url}/run", timeout=30))
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        subprocess.run([str(ENSURE_DOCKER)], check=True)
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "not ready 30 s after the engine came back"
        time.sleep(0.2)
    result = httpx.post(f"{server.url}/run", timeout=60).json()
    assert result["status"] == "ok", result

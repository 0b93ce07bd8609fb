"""The Docker engine stops under a running server: clear 503s, then recovery without a restart."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from docker_helpers import TEST_INSTANCE, Server, serving

pytestmark = pytest.mark.docker

ENSURE_DOCKER = Path(__file__).resolve().parent.parent / "scripts" / "ensure-docker.sh"


def _engine_answers() -> bool:
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, check=False)
    return done.returncode == 0


def _stop_engine() -> None:
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False)
    deadline = time.monotonic() + 60
    while _engine_answers() or subprocess.run(["pgrep", "-x", "dockerd"], check=False).returncode == 0:
        assert time.monotonic() < deadline, "dockerd did not stop within 60 s"
        time.sleep(0.2)


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

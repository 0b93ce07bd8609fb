"""Helpers shared by the real-Docker tests."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gosandbox.policy import PROGRAM_UID
from gosandbox.settings import Settings

#: Every container the tests create carries this instance label; teardown removes them all.
TEST_INSTANCE = f"test-{os.getpid()}"


def docker_settings(state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"state_dir": state_dir, "instance": TEST_INSTANCE, "pool_size": 2, "binary_cache_mb": 0}
    return Settings(**{**values, **overrides})


def program_processes() -> list[int]:
    """Host pids running as the sandboxed program's uid (no user namespace: uids are shared)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Uid:") and line.split()[1] == str(PROGRAM_UID):
                pids.append(int(status.parent.name))
    return pids


def wait_until_no_program_processes(timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := program_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def run(client: TestClient, code: str | None = None, **body: Any) -> dict[str, Any]:
    """POST /run with JSON and return the 200 body."""
    payload = {"code": code, **body} if code is not None else body
    response = client.post("/run", json=payload)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result

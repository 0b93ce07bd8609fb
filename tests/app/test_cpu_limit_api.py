"""limits.cpu_ms at the HTTP edge: optional, within its cap (the server's wall_s x cpus unless set), and the
verdict a backend's CPU-time stop becomes. The sandboxes' side: tests/sandbox/test_cpu_limit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import MAIN, make_settings

ASKED: list[int | None] = []


def stopped_at_its_cpu_limit(job: ExecJob) -> ExecOutcome:
    """What a backend reports for a program it stopped at ``limits.cpu_ms``."""
    ASKED.append(job.limits.cpu_ms)
    return ExecOutcome(exit_code=137, signal=9, stdout=b"", stderr=b"", duration_s=0.3, cpu_limit_hit=True,
                       cpu_time_ms=(job.limits.cpu_ms or 0) + 4, peak_memory_kb=1800)  # fmt: skip


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, max_wall_s=30.0, max_cpus=2.0)
    with TestClient(create_app(settings, backend=FakeBackend(execute=stopped_at_its_cpu_limit))) as client:
        yield client


def test_limits_show_the_cpu_time_cap_and_minimum(client: TestClient) -> None:
    shown = client.get("/limits").json()
    assert shown["defaults"]["cpu_ms"] is None  # none unless asked: the wall clock holds
    assert shown["caps"]["cpu_ms"] == 60_000  # 30 s on 2 CPUs
    assert shown["minimums"]["cpu_ms"] == 10


def test_a_run_stopped_at_its_cpu_time_is_a_timeout_that_says_so(client: TestClient) -> None:
    result = client.post("/run", json={"code": MAIN, "limits": {"cpu_ms": 2000}}).json()
    assert ASKED[-1] == 2000
    assert (result["status"], result["message"]) == ("timeout", "used 2000 ms of CPU time, the limit")
    assert (result["cpu_time_ms"], result["peak_memory_kb"]) == (2004, 1800)


@pytest.mark.parametrize("cpu_ms", [9, 60_001, 10**12])
def test_a_cpu_time_outside_its_range_is_a_422(client: TestClient, cpu_ms: int) -> None:
    response = client.post("/run", json={"code": MAIN, "limits": {"cpu_ms": cpu_ms}})
    assert response.status_code == 422
    assert "limits.cpu_ms" in response.json()["detail"]


def test_a_null_cpu_time_is_no_limit(client: TestClient) -> None:
    assert client.post("/run", json={"code": MAIN, "limits": {"cpu_ms": None}}).status_code == 200
    assert ASKED[-1] is None

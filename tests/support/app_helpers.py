"""Shared by the tests (moved out of tests/app/test_api.py so that no test module imports another)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.errors import SandboxFailure
from gosandbox.settings import Settings
from support.responses import AnyResponse

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'


PROBLEM = "urn:gosandbox:problem:"


def show_binary(job: ExecJob) -> ExecOutcome:
    """The fake "binary" is the files joined; printing it shows which program ran."""
    return ExecOutcome(exit_code=0, signal=None, stdout=job.binary, stderr=job.stdin, duration_s=0.0)


def make_settings(state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "binary_cache_mb": 0,
        "max_body_bytes": 64 * 1024,
        "max_concurrent_runs": 2,
        "max_queued": 4,
        "runtime": "runc",
        "default_program": None,
        "default_wall_s": 5.0,
        "default_memory_mb": 128,
        "default_cpus": 1.0,
        "default_pids": 64,
        "default_output_bytes": 65536,
        "max_wall_s": 30.0,
        "max_memory_mb": 1024,
        "max_cpus": 2.0,
        "max_pids": 256,
        "max_output_bytes": 1024 * 1024,
        "public_hosts": "testserver",  # the Host of Starlette's TestClient; the default stays loopback names only
    }
    return Settings(**{**values, **overrides})


def problem_of(response: AnyResponse, status: int, slug: str) -> dict[str, Any]:
    """Check an RFC 9457 problem document and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + slug
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


WAIT_S = 10.0


class Gate:
    """An execute handler that holds every run until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, job: ExecJob) -> ExecOutcome:
        self.entered.release()
        if not self.release.wait(WAIT_S):
            raise SandboxFailure("the test never released the gate")
        return ExecOutcome(exit_code=0, signal=None, stdout=job.stdin, stderr=b"", duration_s=0.0)

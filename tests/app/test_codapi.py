"""Codapi translation: the request and answer mappings by tables, then /v1/exec on the FakeBackend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.compat.codapi import UnknownName, exec_job, execution
from gosandbox.errors import InvalidRequest
from gosandbox.jobs.submission import Kind
from support.app_helpers import make_settings

MAIN = "package main\n\nfunc main() {}\n"


def body(**fields: Any) -> bytes:
    return json.dumps({"sandbox": "go", "command": "run", "files": {"": MAIN}, **fields}).encode()


def test_run_and_test_jobs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    run = exec_job(body(files={"": MAIN, "util.go": "package main\n"}), settings)
    assert run.job.kind is Kind.RUN
    assert set(run.job.spec.files) == {"main.go", "util.go", "go.mod"}
    assert run.id.startswith("go_run_")
    assert len(run.id) == len("go_run_") + 8
    test = exec_job(body(command="test", version="1.27.3"), settings)
    assert test.job.kind is Kind.TEST
    assert "main_test.go" in test.job.spec.files
    assert test.job.spec.go_version == "go1.27.3"
    assert test.id.startswith("go.1.27.3_test_")


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [({"sandbox": "python"}, UnknownName, "unknown sandbox"), ({"command": "fmt"}, UnknownName, "unknown command"),
     ({"files": {"": "  "}}, InvalidRequest, "empty request"), ({"files": ["x"]}, InvalidRequest, "files must be")],
)  # fmt: skip
def test_refusals(tmp_path: Path, fields: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        exec_job(body(**fields), make_settings(tmp_path))


TIMES = {"compile": 1, "run": 2, "total": 42}


@pytest.mark.parametrize(
    ("result", "ok", "stdout", "stderr"),
    [({"status": "ok", "exit_code": 0, "stdout": "hi\n", "stderr": ""}, True, "hi\n", ""),
     ({"status": "runtime_error", "exit_code": 3, "stdout": "a\n", "stderr": "b\n"}, False, "",
      "a\nb\n (exit status 3)"),
     ({"status": "timeout", "exit_code": None, "signal": "SIGKILL", "stdout": "", "stderr": "",
       "message": "killed after 5 s of wall time"}, False, "", "killed after 5 s of wall time"),
     ({"status": "compile_error", "exit_code": None, "stdout": "", "stderr": "",
       "compile_output": "./main.go:3:1: syntax error\n"}, False, "", "./main.go:3:1: syntax error\n")],
)  # fmt: skip
def test_answers(result: dict[str, Any], ok: bool, stdout: str, stderr: str) -> None:
    answer = execution("go_run_1", {"signal": None, "compile_output": "", "timings_ms": TIMES, **result})
    assert answer == {"id": "go_run_1", "ok": ok, "duration": 42, "stdout": stdout, "stderr": stderr}


def test_test_answer_reads_like_go_test() -> None:
    result = {"status": "ok", "passed": False, "tests": [{"name": "TestA", "result": "fail", "elapsed_s": 0.01,
              "output": "    a_test.go:5: no\n"}], "output": "", "stderr": "", "timings_ms": TIMES}  # fmt: skip
    answer = execution("go_test_1", result)
    assert not answer["ok"]
    assert answer["stdout"] == ""
    assert answer["stderr"].startswith("=== RUN   TestA\n    a_test.go:5: no\n--- FAIL: TestA (0.01s)\nFAIL\n")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend())) as test_client:
        yield test_client


def test_route(client: TestClient) -> None:
    answer = client.post("/v1/exec", content=body()).json()
    assert answer["ok"] is True
    assert answer["id"].startswith("go_run_")
    assert isinstance(answer["duration"], int)
    for fields, status in (({"sandbox": "ruby"}, 404), ({"command": "lint"}, 404), ({"files": {}}, 400)):
        response = client.post("/v1/exec", content=body(**fields))
        assert response.status_code == status
        assert response.json()["ok"] is False
        assert response.json()["stderr"]
    assert client.post("/v1/exec", content=b"x" * (65 * 1024)).status_code == 413

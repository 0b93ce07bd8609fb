"""Piston v2 translation: the request and result mappings by tables, then the routes on the FakeBackend."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.compat.piston.request import execute_job, runtimes
from gosandbox.compat.piston.result import execute_answer, run_status
from gosandbox.compat.piston.semver import best_match, satisfies
from gosandbox.errors import InvalidRequest
from support.app_helpers import make_settings

MAIN = "package main\n\nfunc main() {}\n"
TOOLCHAINS = ["go1.27.3", "go1.26.1", "go1.27-alt"]


def body(**fields: Any) -> bytes:
    base: dict[str, Any] = {"language": "go", "version": "*", "files": [{"content": MAIN}]}
    return json.dumps({**base, **fields}).encode()


@pytest.mark.parametrize(
    ("version", "selector", "expected"),
    [("1.27.3", "1.27.3", True), ("1.27.3", "1.27.2", False), ("1.27.3", "*", True), ("1.27.3", "1.x", True),
     ("1.27.3", "1.26", False), ("1.27.3", "^1.20.0", True), ("1.27.3", "~1.26.0", False),
     ("1.27.3", ">=1.20 <2", True), ("1.27.3", ">= 1.28", False), ("1.27.3", "1.26 || 1.27", True),
     ("0.3.0", "^0.2.1", False), ("1.27-alt", "1.27-alt", True), ("1.27-alt", "*", False),
     ("1.27.3", "nonsense", False)],
)  # fmt: skip
def test_semver_selectors(version: str, selector: str, expected: bool) -> None:
    assert satisfies(version, selector) is expected


def test_best_match_is_the_highest() -> None:
    assert best_match(["1.26.1", "1.27.3", "1.27-alt"], "1.x") == "1.27.3"
    assert best_match(["1.26.1"], "2") is None


def test_runtimes_one_per_toolchain() -> None:
    assert runtimes(TOOLCHAINS[:2]) == [
        {"language": "go", "version": "1.27.3", "aliases": ["golang"]},
        {"language": "go", "version": "1.26.1", "aliases": ["golang"]},
    ]


def job_of(raw: bytes, tmp_path: Path) -> Any:
    return execute_job(raw, make_settings(tmp_path), lambda: TOOLCHAINS)


@pytest.mark.parametrize(
    ("fields", "toolchain", "version"),
    [({"version": "1.27.3"}, "go1.27.3", "1.27.3"), ({"version": "1.26.x"}, "go1.26.1", "1.26.1"),
     ({"version": "*", "language": "golang"}, "go1.27.3", "1.27.3"),
     ({"version": "1.27-alt"}, "go1.27-alt", "1.27-alt")],
)  # fmt: skip
def test_version_selects_toolchain(tmp_path: Path, fields: dict[str, Any], toolchain: str, version: str) -> None:
    job = job_of(body(**fields), tmp_path)
    assert (job.job.spec.go_version, job.version, job.language) == (toolchain, version, "go")


def test_files_encodings_names_stdin_args_limits(tmp_path: Path) -> None:
    helper = "package main\n\nfunc helper() {}\n"
    encoded = base64.b64encode(helper.encode()).decode()
    files = [{"name": "prog", "content": MAIN}, {"name": "helper.go", "content": encoded, "encoding": "base64"},
             {"content": b"data".hex(), "encoding": "hex"}]  # fmt: skip
    raw = body(files=files, stdin="in", args=["a", "b"], run_timeout=2500, run_memory_limit=100_000_000,
               compile_timeout=10000, compile_memory_limit=-1)  # fmt: skip
    spec = job_of(raw, tmp_path).job.spec
    assert spec.files["prog.go"] == MAIN  # the file Piston runs gets .go, as its Go package renames it
    assert spec.files["helper.go"] == helper
    assert spec.files["file2.code"] == "data"
    assert (spec.stdin, spec.args) == (b"in\n", ("a", "b"))  # Piston ends stdin with a newline
    assert (spec.limits.wall_s, spec.limits.memory_mb) == (2.5, 96)  # bytes rounded up to MiB


def test_minus_one_and_zero_are_the_defaults(tmp_path: Path) -> None:
    limits = job_of(body(run_timeout=-1, run_memory_limit=0, run_cpu_time=-1), tmp_path).job.spec.limits
    assert (limits.wall_s, limits.memory_mb, limits.cpu_ms) == (5.0, 128, None)


def test_run_cpu_time_is_a_cpu_time_limit(tmp_path: Path) -> None:
    assert job_of(body(run_cpu_time=1500.5), tmp_path).job.spec.limits.cpu_ms == 1501


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"language": None}, "language is required as a string"), ({"version": 3}, "version is required as a string"),
     ({"files": "x"}, "files is required as an array"), ({"files": [{"name": "a"}]}, "files[0].content is required"),
     ({"files": [{"content": "00", "encoding": "hex"}]}, "at least one utf8 encoded file"),
     ({"language": "python"}, "python-* runtime is unknown"), ({"version": "2.x"}, "go-2.x runtime is unknown"),
     ({"run_timeout": "3s"}, "If specified, run_timeout must be a number"), ({"run_timeout": -5}, "non-negative"),
     ({"run_timeout": 60_000}, "run_timeout=60000 ms: limits.wall_s=60.0 is outside the allowed range"),
     ({"run_cpu_time": 5}, "run_cpu_time=5 ms: limits.cpu_ms=5 is outside the allowed range"),
     ({"run_memory_limit": 8 * 2**30}, "run_memory_limit=8.58993e+09 bytes: limits.memory_mb=8192"),
     ({"compile_timeout": 90_000}, "compile_timeout cannot exceed the configured limit of 30000"),
     ({"args": [1]}, "args must be an array of strings"), ({"stdin": 5}, "stdin must be a string")],
)  # fmt: skip
def test_invalid_requests_in_pistons_words(tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("*", r"\*").replace("+", r"\+").replace("[", r"\[")):
        job_of(body(**fields), tmp_path)


def result(**fields: Any) -> dict[str, Any]:
    base = {"status": "ok", "exit_code": 0, "signal": None, "stdout": "out\n", "stderr": "err\n", "compile_output": "",
            "timings_ms": {"compile": 300, "run": 12, "total": 320}, "cpu_time_ms": 4, "peak_memory_kb": 1500,
            "message": None}  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize(
    ("fields", "status", "code", "signal"),
    [({}, None, 0, None), ({"status": "runtime_error", "exit_code": 3}, "RE", 3, None),
     ({"status": "runtime_error", "exit_code": None, "signal": "SIGSEGV"}, "SG", None, "SIGSEGV"),
     ({"status": "timeout", "exit_code": None, "signal": "SIGKILL"}, "TO", None, "SIGKILL"),
     ({"status": "output_limit", "exit_code": None, "signal": None}, "OL", None, "SIGKILL"),
     ({"status": "memory_limit", "exit_code": None, "signal": "SIGKILL"}, "SG", None, "SIGKILL"),
     ({"status": "memory_limit", "exit_code": 2, "signal": None}, "RE", 2, None)],
)  # fmt: skip
def test_run_stage_statuses(fields: dict[str, Any], status: str | None, code: int | None, signal: str | None) -> None:
    run = execute_answer(result(**fields, message="why" if fields else None), None, "go", "1.27.3")["run"]
    assert (run["status"], run["code"], run["signal"]) == (status, code, signal)
    assert run_status(result(**fields)) == status
    assert run["message"] == ("why" if fields else None)


def test_run_stage_numbers_and_interleaved_output() -> None:
    answer = execute_answer(result(), [("stderr", "err\n"), ("stdout", "out\n")], "go", "1.27.3")
    assert answer["run"] == {
        "stdout": "out\n",
        "stderr": "err\n",
        "output": "err\nout\n",
        "code": 0,
        "signal": None,
        "message": None,
        "status": None,
        "cpu_time": 4,
        "wall_time": 12,
        "memory": 1500 * 1024,
    }
    assert answer["compile"]["code"] == 0
    assert answer["compile"]["wall_time"] == 300
    assert execute_answer(result(), None, "go", "1.27.3")["run"]["output"] == "out\nerr\n"  # order lost: documented


def test_compile_error_is_the_run_stage_too() -> None:
    failed = result(status="compile_error", exit_code=None, stdout="", stderr="", compile_output="./main.go:3: bad\n",
                    message="the program did not compile")  # fmt: skip
    answer = execute_answer(failed, [], "go", "1.27.3")
    assert answer["compile"] == answer["run"]
    assert (answer["run"]["code"], answer["run"]["status"], answer["run"]["stderr"]) == (1, "RE", "./main.go:3: bad\n")
    assert answer["run"]["output"] == "./main.go:3: bad\n"


# --- the routes, on the fake backend ------------------------------------------------------------


def interleaving(job: ExecJob) -> ExecOutcome:
    if job.on_output is not None:  # written in this order: stdout, stderr, stdout
        for name, data in (("stdout", b"a\n"), ("stderr", b"b\n"), ("stdout", b"c\n")):
            job.on_output(name, data)
    return ExecOutcome(exit_code=1, signal=None, stdout=b"a\nc\n", stderr=b"b\n", duration_s=0.01)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    backend = FakeBackend(execute=interleaving)
    backend.execute = interleaving  # type: ignore[method-assign]  # no second replay of output
    with TestClient(create_app(make_settings(tmp_path), backend=backend)) as test_client:
        yield test_client


def test_routes_runtimes_and_execute(client: TestClient) -> None:
    assert client.get("/api/v2/runtimes").json() == [{"language": "go", "version": "0.0-fake", "aliases": ["golang"]}]
    # piston-client posts JSON typed text/plain: it is read as JSON all the same
    response = client.post("/api/v2/execute", content=body(version="0.0-fake"),
                           headers={"content-type": "text/plain;charset=UTF-8"})  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["language"], answer["version"]) == ("go", "0.0-fake")
    run = answer["run"]
    assert (run["stdout"], run["stderr"], run["output"]) == ("a\nc\n", "b\n", "a\nb\nc\n")
    assert (run["code"], run["status"], run["signal"]) == (1, "RE", None)


def test_route_errors_are_messages(client: TestClient) -> None:
    response = client.post("/api/v2/execute", content=body(language="rust"))
    assert (response.status_code, response.json()) == (400, {"message": "rust-* runtime is unknown"})
    response = client.post("/api/v2/execute", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["message"].startswith("the body is not JSON")
    escaping = [{"name": "../x.go", "content": MAIN}]
    response = client.post("/api/v2/execute", content=body(version="0.0-fake", files=escaping))
    assert response.status_code == 400
    assert "'..'" in response.json()["message"]
    response = client.post("/api/v2/execute", content=b"x" * (65 * 1024))
    assert response.status_code == 413
    assert "message" in response.json()


def test_a_build_failure_answers_compile_and_run(tmp_path: Path) -> None:
    def fail(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=False, output="./main.go:3:1: syntax error\n", binary=None, duration_s=0.1)

    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(build=fail))) as test_client:
        answer = test_client.post("/api/v2/execute", content=body(version="0.0-fake")).json()
    assert answer["run"]["stderr"] == "./main.go:3:1: syntax error\n"
    assert answer["compile"]["code"] == 1

"""POST /judge and judge submissions at the HTTP edge, on the fake backend (its "program" echoes its stdin):
what is refused and how (422, 415, 413), one build for all cases, the limits of each case, the verdict
table over what a backend reports, lazy judging, a judge job's live ``case`` events. The sandboxes' side:
tests/sandbox/test_judge.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import MAIN, make_settings, problem_of

CASE = {"stdin": "4\n", "expected_stdout": "4\n"}


def acts(job: ExecJob) -> ExecOutcome:
    """Echo the input, unless it names what a backend reports: a wall-clock kill, an OOM kill, a crash."""
    if job.stdin == b"sleep":
        return ExecOutcome(137, 9, b"", b"", 1.0, timed_out=True, cpu_time_ms=3, peak_memory_kb=1500)
    if job.stdin == b"oom":
        return ExecOutcome(137, 9, b"", b"", 0.1, oom_killed=True, cpu_time_ms=40, peak_memory_kb=65536)
    if job.stdin == b"crash":
        return ExecOutcome(2, None, b"", b"panic: no\n", 0.01, cpu_time_ms=1, peak_memory_kb=1200)
    return ExecOutcome(0, None, job.stdin, b"", 0.01, cpu_time_ms=1, peak_memory_kb=1100)


def builds(job: BuildJob) -> BuildOutcome:
    if "broken" in job.files.get("main.go", ""):
        return BuildOutcome(False, "./main.go:1:9: broken here\n", None, 0.2)
    return BuildOutcome(True, "", b"binary", 0.2)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(build=builds, execute=acts)


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, max_body_bytes=4 * 1024 * 1024)
    with TestClient(create_app(settings, backend=backend)) as client:
        yield client


def judged(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/judge", json={"code": MAIN, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_one_build_serves_every_case_each_with_the_requests_limits(client: TestClient, backend: FakeBackend) -> None:
    cases = [{"name": "a", "stdin": "1", "expected_stdout": "1"}, {"stdin": "2", "args": ["-v"]}]
    result = judged(client, cases=cases, limits={"wall_s": 2, "memory_mb": 64, "cpu_ms": 500})
    assert result["status"] == "accepted"
    assert result["passed"] == 2
    assert len(backend.builds) == 1
    assert len(backend.executions) == 2
    asked = {(job.limits.wall_s, job.limits.memory_mb, job.limits.cpu_ms) for job in backend.executions}
    assert asked == {(2, 64, 500)}
    assert [job.args for job in backend.executions] == [(), ("-v",)]
    first, second = result["cases"]
    assert (first["name"], second["name"]) == ("a", "2")
    assert first == {**first, "exit_code": 0, "signal": None, "wall_ms": 10, "cpu_time_ms": 1, "peak_memory_kb": 1100}
    assert result["build"] == {"succeeded": True, "output": "", "diagnostics": [], "duration_ms": 200, "cached": False}


def test_the_verdict_table(client: TestClient) -> None:
    cases = [CASE, {"stdin": "5\n", "expected_stdout": "4\n"}, {"stdin": "crash"}, {"stdin": "sleep"}, {"stdin": "oom"}]
    result = judged(client, cases=cases)
    assert [c["status"] for c in result["cases"]] == [
        "accepted", "wrong_answer", "runtime_error", "timeout", "memory_limit"
    ]  # fmt: skip
    assert result["status"] == "wrong_answer"
    wrong = result["cases"][1]
    assert wrong["difference"] == {"line": 1, "column": 1, "expected": "4", "got": "5"}
    assert wrong["feedback"] == "line 1, column 1: expected '4', got '5'"
    assert result["cases"][3]["message"] == "killed after 5 s of wall time"


def test_lazy_judging_runs_no_case_after_the_first_failure(client: TestClient, backend: FakeBackend) -> None:
    result = judged(client, cases=[CASE, {"stdin": "crash"}, CASE, CASE], stop_on_first_failure=True)
    assert [c["status"] for c in result["cases"]] == ["accepted", "runtime_error", "skipped", "skipped"]
    assert len(backend.executions) == 2
    assert result["status"] == "runtime_error"


def test_a_compile_error_runs_no_case(client: TestClient, backend: FakeBackend) -> None:
    result = judged(client, code="package broken", cases=[CASE, CASE])
    assert result["status"] == "compile_error"
    assert backend.executions == []
    assert [c["status"] for c in result["cases"]] == ["skipped", "skipped"]
    assert result["build"]["diagnostics"][0]["line"] == 1


def test_a_checker_is_built_once_and_run_per_case_in_kattis_convention(client: TestClient,
                                                                        backend: FakeBackend) -> None:  # fmt: skip
    result = judged(client, cases=[CASE, CASE], checker={"code": "package main\nfunc main() {}\n"})
    assert len(backend.builds) == 2
    assert len(backend.executions) == 4
    checker_run = backend.executions[1]
    assert checker_run.args == ("/sandbox/pkg/input.in", "/sandbox/pkg/answer.ans", "/tmp/feedback/")
    assert checker_run.package_files == {"input.in": "4\n", "answer.ans": "4\n"}
    assert checker_run.stdin == b"4\n"  # the program's output
    assert result["status"] == "checker_error"  # the fake checker exits 0: neither 42 nor 43
    assert result["cases"][0]["feedback"].startswith("the checker ended ok with exit code 0")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"cases": []}, "cases: List should have at least 1 item"),
        ({"cases": [CASE] * 1001}, "cases: List should have at most 1000 items"),
        ({"cases": [{"stdin": "x" * (1024 * 1024 + 1)}]}, "case 1: stdin holds 1048577 bytes; at most 1048576"),
        ({"cases": [CASE], "checker": {"code": MAIN}, "interactor": {"code": MAIN}}, "a checker or an interactor"),
        ({"cases": [CASE], "checker": {"code": MAIN}, "compare": {"mode": "tokens"}}, "or a compare mode, not both"),
        ({"cases": [CASE], "compare": {"mode": "words"}}, "compare.mode: Input should be 'exact', 'lines' or 'tokens'"),
        ({"cases": [CASE], "compare": {"float_abs": -1}}, "compare.float_abs: Input should be greater than or equal"),
        ({"cases": [CASE], "limits": {"wall_s": 999}}, "limits.wall_s=999.0 is outside the allowed range"),
        ({"cases": [{"stdin": "", "args": ["a\x00b"]}]}, "an argument contains a NUL byte"),
        ({"cases": [CASE], "checker": {"files": {"zz_gosandbox_feedback.go": MAIN}}}, "may not be named"),
        ({"cases": [CASE], "interactor": {"code": MAIN}, "compare": {"mode": "exact"}}, "a compare mode, not both"),
    ],
    ids=[
        "no-case",
        "1001-cases",
        "stdin-over-cap",
        "checker-and-interactor",
        "checker-and-compare",
        "bad-mode",
        "negative-tolerance",
        "limit-over-cap",
        "nul-argument",
        "relay-name",
        "interactor-and-compare",
    ],
)
def test_bad_judgings_are_refused_with_a_clear_422(client: TestClient, body: dict[str, Any], detail: str) -> None:
    response = client.post("/judge", json={"code": MAIN, **body})
    problem = problem_of(response, 422, response.json()["type"].rsplit(":", 1)[1])
    assert detail in problem["detail"], problem["detail"]


def test_judge_takes_json_only(client: TestClient) -> None:
    problem_of(client.post("/judge", content=MAIN, headers={"Content-Type": "text/plain"}), 415,
               "unsupported-media-type")  # fmt: skip


def test_a_judge_submission_publishes_an_event_per_case(client: TestClient) -> None:
    body = {"kind": "judge", "code": MAIN, "cases": [CASE, {"stdin": "crash"}]}
    created = client.post("/submissions?wait=10", json=body)
    assert created.status_code in (200, 201), created.text
    submission = created.json()
    assert (submission["kind"], submission["state"]) == ("judge", "done"), submission
    assert submission["result"]["status"] == "runtime_error"
    with client.stream("GET", f"/submissions/{submission['id']}/events") as stream:
        text = "".join(stream.iter_text())
    assert text.count("event: case") == 2, text
    assert '"index": 1' in text or '"index":1' in text

"""Interactive problems on real sandboxes: the guessing game of tests/data/problems/guess, its interactor and the
solution each in a sandbox of its own, wired by live pipes (one's stdout the other's stdin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gosandbox.judge.problem import load_problem

GUESS = Path(__file__).parent.parent / "data" / "problems" / "guess"


def judge_guess(client: TestClient, solution: str, cases: slice, **extra: Any) -> dict[str, Any]:
    problem = load_problem(GUESS)
    assert problem.interactive
    assert problem.validator is not None
    chosen = problem.cases[cases]
    body = {"code": (GUESS / "submissions" / solution).read_text(), "interactor": {"files": problem.validator},
            "cases": [{"name": c.name, "stdin": c.stdin.decode(), "expected_stdout": c.expected_stdout}
                      for c in chosen], **extra}  # fmt: skip
    response = client.post("/judge", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_binary_search_is_accepted(sandbox_app: TestClient) -> None:
    result = judge_guess(sandbox_app, "accepted/bisect.go", slice(None))
    assert [(c["name"], c["status"]) for c in result["cases"]] == [("sample/1", "accepted"), ("secret/1", "accepted")]
    assert result["status"] == "accepted", result
    assert result["cases"][0]["stdout"] == "".join(f"{n}\n" for n in (500, 250, 125, 62, 31, 46, 38, 34, 36, 37))


def test_a_wrong_guessing_is_a_wrong_answer_with_the_interactors_message(sandbox_app: TestClient) -> None:
    result = judge_guess(sandbox_app, "wrong_answer/upwards.go", slice(1, 2))
    [case] = result["cases"]
    assert (result["status"], case["status"]) == ("wrong_answer", "wrong_answer"), result
    assert case["feedback"] == "no right guess in 10"


def test_a_solution_that_never_flushes_ends_timeout_not_a_hang(sandbox_app: TestClient) -> None:
    result = judge_guess(sandbox_app, "time_limit_exceeded/unflushed.go", slice(0, 1), limits={"wall_s": 1})
    [case] = result["cases"]
    assert (result["status"], case["status"]) == ("timeout", "timeout"), result
    assert case["message"] == "killed after 1 s of wall time"
    assert case["wall_ms"] < 5000

"""POST /judge on real sandboxes (the default backend and runtime): one build, each case run afresh (under runc one
sandbox serves the cases one after another: backends/oci/series.py) with its own verdict, time and memory; a
problem directory's cases; the comparison's flags; a Go checker.

One program plays every failing solution (it reads what to do from its case's input), so one build serves the
verdict table; each request holds few cases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gosandbox.judge.problem import Problem, load_problem

PROBLEMS = Path(__file__).parent.parent / "data" / "problems"

# Does what its input says: echo the rest, panic, sleep, spin, allocate.
ACTOR = """package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"
)

var kept []byte

func main() {
	line, _ := bufio.NewReader(os.Stdin).ReadString('\\n')
	what, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch what {
	case "echo":
		fmt.Println(rest)
	case "panic":
		panic("asked to")
	case "sleep":
		time.Sleep(time.Minute)
	case "spin":
		x := 0
		for {
			x++
		}
	case "allocate": // one block past the limit, touched page by page: no garbage collector racing the CPU limit
		kept = make([]byte, 100<<20)
		for i := 0; i < len(kept); i += 4096 {
			kept[i] = 1
		}
	}
}
"""

ECHO = 'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\nfunc main() { io.Copy(os.Stdout, os.Stdin) }\n'


def judge(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/judge", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def problem_body(problem: Problem, solution: Path) -> dict[str, Any]:
    """A /judge body for ``solution`` on ``problem``: its validator as the checker, else its comparison."""
    cases = [{"name": c.name, "stdin": c.stdin.decode(), "expected_stdout": c.expected_stdout} for c in problem.cases]
    body: dict[str, Any] = {"code": solution.read_text(), "cases": cases}
    if problem.validator is not None:
        body["checker"] = {"files": problem.validator}
    else:
        c = problem.comparison
        body["compare"] = {"mode": c.mode.value, "float_abs": c.float_abs, "float_rel": c.float_rel,
                           "case_sensitive": c.case_sensitive}  # fmt: skip
    return body


def statuses(result: dict[str, Any]) -> list[str]:
    return [case["status"] for case in result["cases"]]


def test_a_problem_directory_is_judged_accepted_on_its_samples_and_secret_cases(sandbox_app: TestClient) -> None:
    problem = load_problem(PROBLEMS / "average")
    result = judge(sandbox_app, **problem_body(problem, PROBLEMS / "average/submissions/accepted/mean.go"))
    assert result["status"] == "accepted", result
    assert [c["name"] for c in result["cases"]] == ["sample/1", "sample/2", "secret/1-large", "secret/2-one"]
    assert statuses(result) == ["accepted"] * 4
    assert result["build"]["succeeded"]
    assert result["passed"] == 4
    for case in result["cases"]:  # each case's own figures, from its own sandbox
        assert (case["exit_code"], case["wall_ms"] > 0) == (0, True), case
        assert None not in (case["cpu_time_ms"], case["peak_memory_kb"]), case


def test_outside_the_float_tolerance_is_a_wrong_answer_with_its_first_difference(sandbox_app: TestClient) -> None:
    problem = load_problem(PROBLEMS / "average")
    result = judge(sandbox_app, **problem_body(problem, PROBLEMS / "average/submissions/wrong_answer/rounded.go"))
    assert result["status"] == "wrong_answer"
    assert statuses(result) == ["wrong_answer", "accepted", "accepted", "accepted"]  # 0.00 and 7.00: within 1e-6
    first = result["cases"][0]
    assert first["difference"] == {"line": 1, "column": 1, "expected": "2.333333333", "got": "2.33"}
    assert first["feedback"] == "line 1, column 1: expected '2.333333333', got '2.33'"


def test_each_case_gets_the_verdict_of_what_its_run_did(sandbox_app: TestClient) -> None:
    cases = [
        {"name": "right", "stdin": "echo 42\n", "expected_stdout": "42\n"},
        {"name": "wrong", "stdin": "echo 41\n", "expected_stdout": "42\n"},
        {"name": "crash", "stdin": "panic\n", "expected_stdout": "42\n"},
        {"name": "sleeps", "stdin": "sleep\n", "expected_stdout": "42\n"},
        {"name": "spins", "stdin": "spin\n", "expected_stdout": "42\n"},
        {"name": "greedy", "stdin": "allocate\n", "expected_stdout": "42\n"},
    ]
    result = judge(sandbox_app, code=ACTOR, cases=cases, limits={"wall_s": 2, "cpu_ms": 300, "memory_mb": 64})
    by_name = {case["name"]: case for case in result["cases"]}
    assert statuses(result) == ["accepted", "wrong_answer", "runtime_error", "timeout", "timeout", "memory_limit"]
    assert result["status"] == "wrong_answer"  # the first failing case's
    assert by_name["crash"]["exit_code"] == 2
    assert "asked to" in by_name["crash"]["stderr"]
    assert by_name["sleeps"]["message"] == "killed after 2 s of wall time"
    assert by_name["spins"]["message"] == "used 300 ms of CPU time, the limit"
    assert by_name["greedy"]["peak_memory_kb"] > 16 * 1024, by_name["greedy"]  # it was stopped on its way to 64
    assert result["build"]["cached"] in (True, False)
    assert result["build"]["output"] == ""


def test_lazy_judging_skips_the_cases_after_the_first_failure(sandbox_app: TestClient) -> None:
    cases = [{"stdin": "echo 1\n", "expected_stdout": "1"}, {"stdin": "panic\n"}, {"stdin": "echo 3\n"}]
    result = judge(sandbox_app, code=ACTOR, cases=cases, stop_on_first_failure=True)
    assert (result["status"], statuses(result)) == ("runtime_error", ["accepted", "runtime_error", "skipped"])
    assert result["cases"][2] == {**result["cases"][2], "name": "3", "exit_code": None, "wall_ms": None}


def test_the_comparison_flags(sandbox_app: TestClient) -> None:
    cases = [
        {"name": "case", "stdin": "Hello World\n", "expected_stdout": "hello world\n"},
        {"name": "float", "stdin": "pi is 3.14159\n", "expected_stdout": "pi is 3.1416\n"},
        {"name": "far", "stdin": "pi is 3.2\n", "expected_stdout": "pi is 3.1416\n"},
        {"name": "spaces", "stdin": "a   b\n\n\n", "expected_stdout": "a b"},
    ]
    loose = {"mode": "tokens", "float_abs": 1e-3, "case_sensitive": False}
    assert statuses(judge(sandbox_app, code=ECHO, cases=cases, compare=loose)) == [
        "accepted", "accepted", "wrong_answer", "accepted"
    ]  # fmt: skip
    strict = judge(sandbox_app, code=ECHO, cases=cases, compare={"mode": "lines"})
    assert statuses(strict) == ["wrong_answer"] * 4
    assert strict["cases"][3]["difference"] == {"line": 1, "column": 3, "expected": "a b", "got": "a   b"}


def test_a_checker_accepts_any_of_several_right_answers(sandbox_app: TestClient) -> None:
    problem = load_problem(PROBLEMS / "divisor")
    accepted = judge(sandbox_app, **problem_body(problem, PROBLEMS / "divisor/submissions/accepted/largest.go"))
    assert (accepted["status"], statuses(accepted)) == ("accepted", ["accepted"] * 3), accepted
    assert [c["stdout"] for c in accepted["cases"]] == ["6\n", "7\n", "7\n"]  # not the answer files' 2, 5, 7
    assert accepted["checker"]["succeeded"]
    wrong = judge(sandbox_app, **problem_body(problem, PROBLEMS / "divisor/submissions/wrong_answer/one.go"))
    assert statuses(wrong) == ["wrong_answer"] * 3
    assert wrong["cases"][0]["feedback"] == "1 is not a proper divisor of 12"  # its judgemessage.txt


def test_a_broken_checker_is_a_checker_error_never_the_solutions_fault(sandbox_app: TestClient) -> None:
    case = [{"stdin": "echo 1\n", "expected_stdout": "1\n"}]
    crashing = judge(sandbox_app, code=ACTOR, cases=case, checker={"code": "package main\nfunc main() { panic(1) }\n"})
    assert (crashing["status"], statuses(crashing)) == ("checker_error", ["checker_error"])
    assert crashing["cases"][0]["feedback"].startswith("the checker ended runtime_error with exit code 2")
    broken = judge(sandbox_app, code=ACTOR, cases=case, checker={"code": "package main\nfunc main() { x }\n"})
    assert (broken["status"], statuses(broken)) == ("checker_error", ["skipped"])
    assert not broken["checker"]["succeeded"]
    assert "undefined: x" in broken["checker"]["output"]
    assert broken["checker"]["diagnostics"][0]["line"] == 2

"""limits.cpu_ms, a CPU-time limit, held on every backend and runtime (runsc ignores RLIMIT_CPU).

Under runc the backend reads the sandbox's cgroup (the program's processes, nothing else) every 20 ms; under
runsc the program's supervisor, the sandbox's first process, reads the program's own CPU time from gVisor and
stops it. Either way the verdict is ``timeout`` and its message says CPU time.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.combinations import Combination, every_combination
from support.docker_helpers import run

# Burns CPU for ever on one thread.
SPIN = "package main\n\nfunc main() {\n\tx := 0\n\tfor {\n\t\tx++\n\t}\n}\n"

# Starts a copy of itself that burns CPU, and waits for it: the parent uses none, its child all of it.
SPIN_IN_A_CHILD = """package main

import (
	"os"
	"os/exec"
)

func main() {
	if len(os.Args) > 1 {
		x := 0
		for {
			x++
		}
	}
	_ = exec.Command(os.Args[0], "child").Run()
}
"""

SLEEP_1_S = 'package main\n\nimport "time"\n\nfunc main() { time.Sleep(time.Second) }\n'


@every_combination
def test_a_busy_program_is_stopped_at_its_cpu_time(sandbox_app: TestClient, combination: Combination) -> None:
    result = run(sandbox_app, SPIN, limits={"cpu_ms": 300, "wall_s": 10})
    assert result["status"] == "timeout", result
    assert result["message"] == "used 300 ms of CPU time, the limit"
    assert 300 <= result["cpu_time_ms"] <= 500, (combination, result["cpu_time_ms"])
    assert result["timings_ms"]["run"] < 5000  # long before the wall-clock limit


@every_combination
def test_the_cpu_time_of_every_process_counts(sandbox_app: TestClient, combination: Combination) -> None:
    result = run(sandbox_app, SPIN_IN_A_CHILD, limits={"cpu_ms": 300, "wall_s": 10})
    assert (result["status"], result["message"]) == ("timeout", "used 300 ms of CPU time, the limit"), result
    assert result["timings_ms"]["run"] < 5000, (combination, result["timings_ms"])


@every_combination
def test_waiting_uses_no_cpu_time(sandbox_app: TestClient, combination: Combination) -> None:
    result = run(sandbox_app, SLEEP_1_S, limits={"cpu_ms": 100, "wall_s": 5})
    assert (result["status"], result["message"]) == ("ok", None), (combination, result)


def test_the_wall_clock_still_holds_a_program_within_its_cpu_time(sandbox_app: TestClient) -> None:
    result = run(sandbox_app, SLEEP_1_S, limits={"cpu_ms": 100, "wall_s": 0.5})
    assert (result["status"], result["message"]) == ("timeout", "killed after 0.5 s of wall time"), result


def test_a_cpu_time_limit_past_its_cap_is_refused(sandbox_app: TestClient) -> None:
    response = sandbox_app.post("/run", json={"code": SPIN, "limits": {"cpu_ms": 10**9}})
    assert response.status_code == 422
    assert "limits.cpu_ms" in response.json()["detail"]


def test_judge0s_cpu_time_limit_is_a_cpu_time_limit(sandbox_app: TestClient) -> None:
    body = {"source_code": SPIN, "language_id": 60, "cpu_time_limit": 0.3, "wall_time_limit": 10}
    answer = sandbox_app.post("/judge0/submissions?wait=true&fields=*", json=body).json()
    assert answer["status"] == {"id": 5, "description": "Time Limit Exceeded"}, answer
    assert answer["message"] == "used 300 ms of CPU time, the limit"
    assert 0.3 <= float(answer["time"]) <= 0.5
    assert float(answer["wall_time"]) < 5

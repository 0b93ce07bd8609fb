"""CPU time and peak memory of the program itself, on every backend and runtime (the default, oci+runc, among them).

Each figure is the median of three runs, through ``POST /run`` of the combination's app. Under runsc the cgroup
counts gVisor's own tasks beside the program: the figures come from the sandbox's supervisor
(backends/supervisor.py), and a program must not be able to forge them nor escape them.
"""

from __future__ import annotations

import statistics
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.combinations import COMBINATIONS, DEFAULT_COMBINATION, Combination, every_combination
from support.docker_helpers import run
from support.oci_programs import cpu_burner

MIB = 1024

# Burns CPU until its own rusage says 500 ms, however loaded the host: "a 0.5 s busy loop" in CPU time, which a
# wall-clock loop is not on a busy machine.
BUSY_500_MS = cpu_burner(500)

# Touches every byte of 40 MiB, so that all of it is resident, and exits at once: the peak is at the very end.
TOUCH_40_MIB = """package main

import "fmt"

func main() {
	block := make([]byte, 40<<20)
	for i := range block {
		block[i] = byte(i)
	}
	fmt.Println(len(block) >> 20)
}
"""

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'

# Tries what a program under runsc could do to its supervisor (PID 1, another uid), then burns 300 ms of CPU: it
# may not stop, kill or trace it, nor open its descriptors or memory. gVisor 20221219 shows another uid's
# /proc/1/environ (Linux would not): the supervisor's environment must be nothing but the program's own.
ATTACK_SUPERVISOR = """package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
)

func main() {
	for _, sig := range []syscall.Signal{syscall.SIGSTOP, syscall.SIGKILL, syscall.SIGTERM, syscall.SIGSEGV} {
		fmt.Println("kill", int(sig), syscall.Kill(1, sig))
	}
	for _, name := range []string{"fd/0", "fd/3", "mem"} {
		_, err := os.Open("/proc/1/" + name)
		fmt.Println("open", name, err != nil)
	}
	environ, _ := os.ReadFile("/proc/1/environ")
	foreign := 0
	for _, entry := range strings.Split(strings.TrimSuffix(string(environ), "\\x00"), "\\x00") {
		if entry != "" && !slices.Contains(os.Environ(), entry) {
			foreign++
		}
	}
	fmt.Println("foreign environment", foreign)
	fmt.Println("ptrace", syscall.PtraceAttach(1))
	var ru syscall.Rusage
	for x := 0; (ru.Utime.Nano()+ru.Stime.Nano())/1e6 < 300; x++ {
		if x%1000000 == 0 {
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		}
	}
}
"""


def _medians(client: TestClient, code: str, runs: int = 3, **body: Any) -> tuple[float, float]:
    """The median CPU time (ms) and peak memory (KiB) of ``runs`` runs, each ``ok`` and with both figures."""
    results = [run(client, code, **body) for _ in range(runs)]
    for result in results:
        assert result["status"] == "ok", result
        assert result["cpu_time_ms"] is not None, result
        assert result["peak_memory_kb"] is not None, result
    cpu = statistics.median(result["cpu_time_ms"] for result in results)
    peak = statistics.median(result["peak_memory_kb"] for result in results)
    return cpu, peak


def test_the_default_combination_is_among_those_tested() -> None:
    assert DEFAULT_COMBINATION in COMBINATIONS


@every_combination
def test_a_half_second_busy_loop_reports_half_a_second(sandbox_app: TestClient, combination: Combination) -> None:
    cpu, _ = _medians(sandbox_app, BUSY_500_MS, limits={"wall_s": 10})
    assert 400 <= cpu <= 600, (combination, cpu)


@every_combination
def test_touching_40_mib_reports_at_least_40_mib(sandbox_app: TestClient, combination: Combination) -> None:
    _, peak = _medians(sandbox_app, TOUCH_40_MIB, limits={"memory_mb": 256})
    assert 40 * MIB <= peak <= 64 * MIB, (combination, peak)


@every_combination
def test_a_hello_world_reports_little_cpu_and_memory(sandbox_app: TestClient, combination: Combination) -> None:
    cpu, peak = _medians(sandbox_app, HELLO)
    assert cpu < 50, (combination, cpu)
    assert 0 < peak < 8 * MIB, (combination, peak)


@pytest.mark.parametrize("combination", [c for c in COMBINATIONS if c.gvisor], ids=str)
def test_a_program_cannot_reach_its_supervisor(sandbox_app: TestClient, combination: Combination) -> None:
    result = run(sandbox_app, ATTACK_SUPERVISOR, limits={"wall_s": 10})
    assert (result["status"], result["exit_code"]) == ("ok", 0), result
    lines = result["stdout"].splitlines()
    assert lines[:4] == [f"kill {sig} operation not permitted" for sig in (19, 9, 15, 11)], lines
    assert lines[4:7] == [f"open {name} true" for name in ("fd/0", "fd/3", "mem")], lines
    assert lines[7:9] == ["foreign environment 0", "ptrace operation not permitted"], lines
    # About the 300 ms it burnt by its own count (gVisor's, which a busy host inflates: the figure may be the
    # cgroup's, less): counted outside the program, not its word.
    assert 200 <= result["cpu_time_ms"] <= 500, result


@pytest.mark.parametrize("combination", [c for c in COMBINATIONS if c.gvisor], ids=str)
def test_a_program_that_kills_itself_is_not_out_of_memory(sandbox_app: TestClient, combination: Combination) -> None:
    # Before the supervisor, the program was PID 1 and gVisor let it SIGKILL itself: that read as memory_limit.
    code = 'package main\n\nimport "syscall"\n\nfunc main() { _ = syscall.Kill(syscall.Getpid(), syscall.SIGKILL) }\n'
    result = run(sandbox_app, code)
    assert (result["status"], result["signal"]) == ("runtime_error", "SIGKILL"), result
    assert result["message"] == "killed by signal SIGKILL"


def test_judge0_and_piston_report_the_figures_on_the_default_runtime(sandbox_app: TestClient) -> None:
    judge0 = sandbox_app.post("/judge0/submissions?wait=true", json={"source_code": TOUCH_40_MIB, "language_id": 60})
    assert judge0.status_code == 201, judge0.text
    answer = judge0.json()
    assert answer["status"]["id"] == 3, answer  # Accepted
    assert 0 < float(answer["time"]) < 1  # seconds of CPU time
    assert 40 * MIB <= answer["memory"] <= 64 * MIB  # KB
    piston = sandbox_app.post("/api/v2/execute", json={"language": "go", "version": "*",
                                                       "files": [{"content": TOUCH_40_MIB}]})  # fmt: skip
    assert piston.status_code == 200, piston.text
    ran = piston.json()["run"]
    assert 0 < ran["cpu_time"] < 1000  # ms
    assert 40 * MIB * 1024 <= ran["memory"] <= 64 * MIB * 1024  # bytes

"""CPU time, peak memory and the verdict's message, as the real engine measures and the HTTP API reports them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from support.docker_helpers import run
from support.oci_programs import cpu_burner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Burns CPU until its own rusage says 400 ms (however loaded the host), then prints what it used.
BURN = cpu_burner(400)

SLEEP = 'package main\n\nimport "time"\n\nfunc main() { time.Sleep(500 * time.Millisecond) }\n'

# Allocates 40 MiB and touches every page, so that all of it is resident.
ALLOCATE_40_MIB = """package main

import "fmt"

func main() {
	block := make([]byte, 40<<20)
	for i := range block {
		block[i] = byte(i)
	}
	fmt.Println(len(block) >> 20)
}
"""

# A deadlock with 1000 parked goroutines: Go's crash report lists them all, well past a 64 KiB cap.
CRASH_REPORT_FLOOD = """package main

func main() {
	block := make(chan int)
	for i := 0; i < 1000; i++ {
		go func() { <-block }()
	}
	<-block
}
"""

THREAD_BOMB = Path(__file__).resolve().parents[1].joinpath("hostile", "07_thread_bomb.go").read_text()


def test_a_cpu_burning_program_reports_its_cpu_time(live: TestClient) -> None:
    result = run(live, BURN, limits={"wall_s": 10})
    assert result["status"] == "ok", result
    own_ms = int(result["stdout"].split()[0])
    assert own_ms >= 400
    # The cgroup and the program's own rusage agree within a few milliseconds (the kernel rounds them apart).
    assert own_ms - 20 <= result["cpu_time_ms"] <= 2000, (own_ms, result["cpu_time_ms"])


def test_a_sleeping_program_reports_almost_no_cpu_time(live: TestClient) -> None:
    result = run(live, SLEEP)
    assert result["status"] == "ok", result
    assert 0 <= result["cpu_time_ms"] < 100


def test_peak_memory_counts_what_the_program_touched_and_stays_below_the_limit(live: TestClient) -> None:
    result = run(live, ALLOCATE_40_MIB, limits={"memory_mb": 128})
    assert (result["status"], result["stdout"]) == ("ok", "40\n"), result
    assert 40 * 1024 <= result["peak_memory_kb"] < 128 * 1024


def test_a_hello_world_uses_a_few_megabytes_at_most(live: TestClient) -> None:
    result = run(live, 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    assert result["message"] is None
    assert 0 < result["peak_memory_kb"] < 16 * 1024


def test_a_timeout_says_the_wall_limit_and_still_reports_usage(live: TestClient) -> None:
    result = run(live, "package main\n\nfunc main() { for {} }\n", limits={"wall_s": 1})
    assert result["status"] == "timeout"
    assert result["message"] == "killed after 1 s of wall time"
    assert result["cpu_time_ms"] > 0  # read just before the kill took the sandbox's cgroup (a loaded host gives less)
    assert result["peak_memory_kb"] > 0


def test_the_memory_limit_says_its_size_and_peak_memory_reaches_it(live: TestClient) -> None:
    result = run(live, (EXAMPLES / "memory.go").read_text(), limits={"memory_mb": 64})
    assert result["status"] == "memory_limit"
    assert result["message"] == "memory limit of 64 MiB reached"
    # The kernel charges pages in small batches, so its peak may pass the limit by a few KiB.
    assert 48 * 1024 <= result["peak_memory_kb"] <= 64 * 1024 + 256


def test_an_output_flood_says_the_cap(live: TestClient) -> None:
    flood = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfor {\n\t\tfmt.Println("flood")\n\t}\n}\n'
    result = run(live, flood, limits={"output_bytes": 4096})
    assert (result["status"], result["truncated"]) == ("output_limit", True)
    assert result["message"] == "output passed 4096 bytes and the program was stopped"


def test_a_crash_report_past_the_output_cap_is_a_runtime_error_with_its_own_exit(live: TestClient) -> None:
    result = run(live, CRASH_REPORT_FLOOD)
    assert (result["status"], result["truncated"], result["exit_code"]) == ("runtime_error", True, 2), result
    assert result["stderr"].startswith("fatal error: all goroutines are asleep - deadlock!")
    assert result["message"] == (
        "exited with code 2 after fatal error: all goroutines are asleep - deadlock!"
        "; its output passed 65536 bytes and was cut"
    )


def test_the_thread_bomb_at_a_small_output_cap_is_a_runtime_error_that_names_the_pids_limit(live: TestClient) -> None:
    result = run(live, THREAD_BOMB, limits={"wall_s": 3, "pids": 32, "output_bytes": 16384})
    assert (result["status"], result["truncated"], result["exit_code"]) == ("runtime_error", True, 2), result
    assert "failed to create new OS thread" in result["stderr"]
    assert result["message"] == (
        "the program tried to run more than 32 processes or threads; its output passed 16384 bytes and was cut"
    )


def test_an_exit_code_is_said_plainly(live: TestClient) -> None:
    result = run(live, 'package main\n\nimport "os"\n\nfunc main() { os.Exit(3) }\n')
    assert (result["status"], result["message"]) == ("runtime_error", "exited with code 3")
    assert result["cpu_time_ms"] is not None


def test_a_package_that_is_not_main_is_a_compile_error_not_an_exec_failure(live: TestClient) -> None:
    result = run(live, "package foo\n\nfunc F() {}\n")
    line = "./main.go:1:9: package foo is not a main package: a program to run needs package main"
    assert (result["status"], result["exit_code"], result["stderr"]) == ("compile_error", None, ""), result
    assert result["compile_output"] == line + "\n"
    assert result["diagnostics"] == [
        {"file": "main.go", "line": 1, "column": 9, "message": line.split(": ", 1)[1], "analyzer": None}
    ]
    assert result["message"] == "the program did not compile: " + line.removeprefix("./")
    assert (result["cpu_time_ms"], result["peak_memory_kb"]) == (None, None)

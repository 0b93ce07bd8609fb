"""The hostile corpus (tests/hostile/, copied from the shared corpus) against the real engine.

Each program's first line states the correct verdict; EXPECTED below encodes it. Every case
also checks: no SANDBOX-BREACH line and no exit 77, the server still answers, no process of
the program survives, and the host's /etc/passwd is untouched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docker_helpers import run, wait_until_no_program_processes

pytestmark = pytest.mark.docker

CORPUS = Path(__file__).resolve().parent / "hostile"
Result = dict[str, Any]
Check = Callable[[Result], None]


def _stdout_is(text: str) -> Check:
    def check(r: Result) -> None:
        assert r["stdout"] == text

    return check


def _stderr_has(*needles: str) -> Check:
    def check(r: Result) -> None:
        assert any(n in r["stderr"] for n in needles), r["stderr"][-2000:]

    return check


def _exit(code: int) -> Check:
    def check(r: Result) -> None:
        assert r["exit_code"] == code

    return check


def _parallel_ok(r: Result) -> None:
    last = r["stdout"].splitlines()[-1]
    assert last.startswith("workers="), last
    assert last.endswith(" ok"), last


def _fills_stop_at_tmpfs_size(r: Result) -> None:
    if r["status"] == "memory_limit":
        return
    lines = r["stdout"].splitlines()
    for prefix in ("/tmp:", "/dev/shm:"):
        line = next(line for line in lines if line.startswith(prefix))
        assert line.endswith("no space left on device"), line
        assert int(re.findall(r"after (\d+) MiB", line)[0]) <= 64
    var_tmp = next(line for line in lines if line.startswith("/var/tmp:"))
    assert "read-only file system" in var_tmp or "permission denied" in var_tmp


def _malformed_output_survives(r: Result) -> None:
    assert r["stdout"].startswith("start\n")
    assert r["stdout"].endswith("end\n")
    assert "nul:\x00:in the middle" in r["stdout"]
    assert "\ufffd" in r["stdout"]


def _compile_errors_with_positions(r: Result) -> None:
    out = r["compile_output"]
    for position in ("9:2", "13:14", "14:14", "15:9"):
        assert f"main.go:{position}" in out, out
    for host_path in ("/builds", "/tmp/", "/home/", "/root/", "/usr/local/go"):
        assert host_path not in out


def _stdin_empty(r: Result) -> None:
    assert r["stdout"].startswith("stdin bytes=0 ")


def _truncated_at_cap(r: Result) -> None:
    assert r["truncated"] is True
    assert len(r["stdout"].encode()) + len(r["stderr"].encode()) <= 65536


def _stderr_empty(r: Result) -> None:
    assert r["stderr"] == ""


def _stderr_exact(r: Result) -> None:
    assert r["stderr"] == "to stderr\n"


ANY_OK: tuple[set[str], list[Check]] = ({"ok"}, [_exit(0)])

EXPECTED: dict[str, tuple[set[str], list[Check]]] = {
    "01_baseline_hello.go": ({"ok"}, [_exit(0), _stdout_is("hello, sandbox\n"), _stderr_empty]),
    "02_legit_parallel_workload.go": ({"ok"}, [_exit(0), _parallel_ok]),
    "03_infinite_loop.go": ({"timeout"}, [_stdout_is("")]),
    "04_sleep_past_timeout.go": ({"timeout"}, [_stdout_is("sleeping for 24h\n")]),
    "06_goroutine_bomb.go": ({"memory_limit", "timeout"}, []),
    "07_thread_bomb.go": (
        {"runtime_error"},
        [_exit(2), _stderr_has("failed to create new OS thread", "program exceeds 10000-thread limit")],
    ),
    "08_fork_bomb_selfexec.go": ({"timeout", "runtime_error"}, []),
    "11_memory_bomb.go": ({"memory_limit"}, []),
    "12_stack_overflow.go": ({"runtime_error", "memory_limit"}, []),
    "13_tmpfs_and_shm_fill.go": ({"ok", "memory_limit"}, [_fills_stop_at_tmpfs_size]),
    "15_write_outside_tmp.go": ANY_OK,
    "16_stdout_flood_100mb.go": ({"output_limit"}, [_truncated_at_cap]),
    "18_invalid_utf8_nul_ansi.go": ({"ok"}, [_exit(0), _malformed_output_survives]),
    "20_huge_stdin.go": ({"ok"}, [_stdin_empty]),
    "21_net_no_route.go": ANY_OK,
    "23_unix_docker_socket.go": ANY_OK,
    "24_read_host_secrets_env.go": ANY_OK,
    "25_proc_sys_info_leak.go": ANY_OK,
    "27_exit_code_3.go": ({"runtime_error"}, [_exit(3), _stdout_is("to stdout\n"), _stderr_exact]),
    "28_panic.go": (
        {"runtime_error"},
        [
            _exit(2),
            _stdout_is("before panic\n"),
            _stderr_has("panic: boom: custom error"),
            _stderr_has("goroutine 1 ["),
        ],
    ),
    "29_goexit_deadlock.go": (
        {"runtime_error"},
        [_exit(2), _stdout_is("deferred calls still run\n"), _stderr_has("no goroutines (main called runtime.Goexit)")],
    ),
    "31_cgo_system_call.go": ({"compile_error"}, []),
    "32_compile_error.go": ({"compile_error"}, [_compile_errors_with_positions]),
    "34_mount_unshare_chroot.go": ANY_OK,
    "35_setuid_caps_tty_posture.go": ANY_OK,
    "36_ptrace.go": ANY_OK,
    "38_kernel_surface_syscalls_sockets.go": ANY_OK,
    "39_symlink_fifo_workdir.go": ANY_OK,
}


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.go")) == sorted(EXPECTED)


def _host_fingerprint() -> str:
    passwd = Path("/etc/passwd")
    return hashlib.sha256(passwd.read_bytes()).hexdigest() + str(passwd.stat().st_mtime_ns)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_program(live: TestClient, name: str) -> None:
    source = (CORPUS / name).read_text()
    assert source.startswith("// expect:")
    before = _host_fingerprint()
    # The default output cap for every case: the thread bomb's crash dump may pass it, and a program
    # already crashing at the cap keeps its own verdict and exit code (``truncated`` tells the cut).
    result = run(live, source, limits={"wall_s": 3})
    statuses, checks = EXPECTED[name]
    assert result["status"] in statuses, result
    output = result["stdout"] + result["stderr"]
    assert "SANDBOX-BREACH" not in output, [line for line in output.splitlines() if "BREACH" in line]
    assert result["exit_code"] != 77
    for check in checks:
        check(result)
    assert live.get("/healthz").status_code == 200
    assert wait_until_no_program_processes() == []
    assert _host_fingerprint() == before


def test_stdin_near_the_body_cap_arrives_intact(live: TestClient) -> None:
    data = bytes(range(32, 127)) * 2800  # ~260 KiB of printable ASCII
    result = run(live, (CORPUS / "20_huge_stdin.go").read_text(), stdin=data.decode())
    assert result["stdout"].startswith(f"stdin bytes={len(data)} sha256={hashlib.sha256(data).hexdigest()} ")


def test_stdin_over_the_body_cap_is_refused_before_docker(live: TestClient) -> None:
    response = live.post("/run", json={"code": "package main\nfunc main() {}\n", "stdin": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413

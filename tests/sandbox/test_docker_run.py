"""Every verdict and isolation claim of the core, against the real Docker engine through the HTTP API.

The isolation claims run under every backend and runtime (combinations.every_combination).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.host_ids import IDS_PER_SANDBOX, host_range
from gosandbox.policy import PROGRAM_UID
from support.combinations import Combination, every_combination
from support.docker_helpers import run, wait_until_no_program_processes, wait_until_no_programs_left

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n'


def test_hello_world_is_ok(live: TestClient) -> None:
    result = run(live, HELLO)
    assert result["status"] == "ok"
    assert result["exit_code"] == 0
    assert result["stdout"] == "hello, world\n"
    assert result["stderr"] == ""
    assert result["go_version"].startswith("go1.")
    assert result["timings_ms"]["total"] >= result["timings_ms"]["run"]


def test_syntax_error_is_compile_error_with_the_compiler_message(live: TestClient) -> None:
    result = run(live, 'package main\n\nfunc main() {\n\tfmt.Println("x"\n}\n')
    assert result["status"] == "compile_error"
    assert "./main.go:4:" in result["compile_output"]
    assert "syntax error" in result["compile_output"]
    assert "/builds" not in result["compile_output"]
    assert result["exit_code"] is None


def test_panic_is_runtime_error_exit_2(live: TestClient) -> None:
    result = run(live, 'package main\n\nfunc main() { panic("boom") }\n')
    assert result["status"] == "runtime_error"
    assert result["exit_code"] == 2
    assert "panic: boom" in result["stderr"]


def test_os_exit_3_is_runtime_error_exit_3(live: TestClient) -> None:
    result = run(live, 'package main\n\nimport "os"\n\nfunc main() { os.Exit(3) }\n')
    assert (result["status"], result["exit_code"], result["signal"]) == ("runtime_error", 3, None)


def test_endless_loop_times_out_at_the_wall_limit(live: TestClient) -> None:
    started = time.monotonic()
    result = run(live, "package main\n\nfunc main() { for {} }\n", limits={"wall_s": 2})
    elapsed = time.monotonic() - started
    assert result["status"] == "timeout"
    assert result["signal"] == "SIGKILL"
    assert elapsed < 4, elapsed
    assert wait_until_no_program_processes() == []


def test_memory_hog_hits_the_memory_limit(live: TestClient) -> None:
    result = run(live, (EXAMPLES / "memory.go").read_text(), limits={"memory_mb": 64})
    assert result["status"] == "memory_limit"
    assert result["signal"] == "SIGKILL"
    held = [int(line.split()[1]) for line in result["stdout"].splitlines() if line.startswith("holding")]
    assert held, result["stdout"]
    assert max(held) <= 64


def test_fork_bomb_is_contained_and_leaves_no_process(live: TestClient) -> None:
    bomb = (
        'package main\n\nimport (\n\t"os"\n\t"os/exec"\n)\n\n'
        "func main() {\n\tfor {\n\t\t_ = exec.Command(os.Args[0]).Start()\n\t}\n}\n"
    )
    result = run(live, bomb, limits={"wall_s": 2, "pids": 32})
    assert result["status"] in ("timeout", "runtime_error", "memory_limit")
    assert live.get("/healthz").status_code == 200
    assert wait_until_no_program_processes() == []


def test_goroutine_bomb_is_contained(live: TestClient) -> None:
    bomb = (
        'package main\n\nimport "time"\n\nfunc main() {\n\tfor {\n\t\tgo func() { time.Sleep(time.Hour) }()\n\t}\n}\n'
    )
    result = run(live, bomb, limits={"wall_s": 3, "memory_mb": 64})
    assert result["status"] in ("memory_limit", "timeout")
    assert wait_until_no_program_processes() == []


def test_output_flood_stops_at_the_cap(live: TestClient) -> None:
    flood = (
        'package main\n\nimport "os"\n\nfunc main() {\n\tline := make([]byte, 1024)\n'
        "\tfor i := 0; i < 10*1024; i++ {\n\t\tos.Stdout.Write(line)\n\t}\n}\n"
    )
    result = run(live, flood, limits={"output_bytes": 65536})
    assert result["status"] == "output_limit"
    assert result["truncated"] is True
    assert len(result["stdout"]) == 65536


def test_stdin_is_echoed(live: TestClient) -> None:
    echo = 'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\nfunc main() { io.Copy(os.Stdout, os.Stdin) }\n'
    result = run(live, echo, stdin="line one\nline two\n")
    assert result["stdout"] == "line one\nline two\n"


def test_no_stdin_reads_empty_at_once(live: TestClient) -> None:
    reader = (
        'package main\n\nimport (\n\t"fmt"\n\t"io"\n\t"os"\n)\n\n'
        "func main() { b, _ := io.ReadAll(os.Stdin); fmt.Println(len(b)) }\n"
    )
    result = run(live, reader, limits={"wall_s": 2})
    assert (result["status"], result["stdout"]) == ("ok", "0\n")


def test_args_are_passed(live: TestClient) -> None:
    code = 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() { fmt.Printf("%q\\n", os.Args[1:]) }\n'
    result = run(live, code, args=["-n", "3", "two words", ""])
    assert result["stdout"] == '["-n" "3" "two words" ""]\n'


def test_two_file_package_with_go_mod(live: TestClient) -> None:
    folder = EXAMPLES / "multifile"
    files = {p.name: p.read_text() for p in folder.iterdir()}
    result = run(live, files=files, stdin="Ada\n\n")
    assert result["status"] == "ok", result
    assert result["stdout"] == "Hello, Ada!\nHello, stranger!\n"


def test_no_body_runs_the_default_program(live: TestClient) -> None:
    response = live.post("/run")
    assert response.status_code == 200
    assert response.json()["stdout"] == "Hello from a gosandbox sandbox!\n"


def test_plain_text_body_is_main_go(live: TestClient) -> None:
    response = live.post("/run", content=HELLO, headers={"content-type": "text/plain"})
    assert response.json()["stdout"] == "hello, world\n"


@every_combination
def test_writing_outside_tmp_fails_and_tmp_works(sandbox_app: TestClient) -> None:
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n'
        '\tfor _, p := range []string{"/x", "/etc/x", "/usr/x", "/sandbox/x", "/tmp/x"} {\n'
        '\t\tfmt.Println(p, os.WriteFile(p, []byte("x"), 0o644) == nil)\n\t}\n}\n'
    )
    result = run(sandbox_app, code)
    assert result["stdout"].splitlines() == [
        "/x false",
        "/etc/x false",
        "/usr/x false",
        "/sandbox/x false",
        "/tmp/x true",
    ]


@every_combination
def test_program_runs_as_non_root_without_capabilities(sandbox_app: TestClient, combination: Combination) -> None:
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n\t"syscall"\n)\n\nfunc main() {\n'
        '\tstatus, _ := os.ReadFile("/proc/self/status")\n\tfmt.Println(os.Getuid(), os.Getgid())\n'
        '\tfor _, l := range strings.Split(string(status), "\\n") {\n'
        '\t\tif strings.HasPrefix(l, "CapEff") || strings.HasPrefix(l, "NoNewPrivs") { fmt.Println(l) }\n\t}\n'
        "\tnnp, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, 39, 0, 0) // PR_GET_NO_NEW_PRIVS\n"
        '\tfmt.Println("prctl no_new_privs", nnp)\n}\n'
    )
    lines = run(sandbox_app, code)["stdout"].splitlines()
    uid, gid = (int(n) for n in lines[0].split())
    if combination == Combination("docker", "runc"):  # the engine's users: a host uid of this sandbox's own
        assert uid == gid
        assert uid in host_range()
        assert uid % IDS_PER_SANDBOX == PROGRAM_UID
    else:  # a user namespace of its own (oci+runc) or gVisor's own kernel
        assert (uid, gid) == (PROGRAM_UID, PROGRAM_UID)
    assert lines[1].split() == ["CapEff:", "0000000000000000"]
    # gVisor's /proc/self/status has no NoNewPrivs line; prctl asks the Sentry itself under every runtime.
    shown = [] if combination.gvisor else [["NoNewPrivs:", "1"]]
    assert [line.split() for line in lines[2:-1]] == shown
    assert lines[-1] == "prctl no_new_privs 1"


@pytest.fixture
def host_listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP listener on all host addresses; records any connection it accepts."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def _bridge_address() -> str | None:
    """The host's address on Docker's default bridge (a local address of this machine)."""
    configs = connect().networks.get("bridge").attrs.get("IPAM", {}).get("Config") or [{}]
    gateway: str | None = configs[0].get("Gateway")
    return gateway


@every_combination
def test_no_network_only_loopback_and_host_listener_unreachable(
    sandbox_app: TestClient, host_listener: tuple[int, list[object]]
) -> None:
    port, accepted = host_listener
    targets = ["127.0.0.1"] + ([bridge] if (bridge := _bridge_address()) else [])
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"net"\n\t"os"\n\t"time"\n)\n\nfunc main() {\n'
        '\tifaces, _ := net.Interfaces()\n\tfor _, i := range ifaces { fmt.Println("iface", i.Name) }\n'
        '\troute, _ := os.ReadFile("/proc/net/route")\n\tfmt.Printf("routes %q\\n", route)\n'
        "\tfor _, host := range os.Args[1:] {\n"
        '\t\tc, err := net.DialTimeout("tcp", host, time.Second)\n'
        '\t\tif err == nil { c.Close(); fmt.Println("dial", host, "CONNECTED") } else {\n'
        '\t\t\tfmt.Println("dial", host, "failed")\n\t\t}\n'
        "\t}\n}\n"
    )
    result = run(sandbox_app, code, args=[f"{host}:{port}" for host in targets])
    lines = result["stdout"].splitlines()
    assert [line for line in lines if line.startswith("iface")] == ["iface lo"]
    routes = next(line for line in lines if line.startswith("routes"))
    assert "\\n0" not in routes  # the header only: no route entries at all
    assert all(line.endswith("failed") for line in lines if line.startswith("dial")), lines
    assert len([line for line in lines if line.startswith("dial")]) == len(targets)
    assert accepted == []


@every_combination
def test_each_sandbox_is_used_once(sandbox_app: TestClient, combination: Combination) -> None:
    """A file one run writes and a process it leaves behind are absent in the next run."""
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"os/exec"\n\t"time"\n)\n\n'
        "func main() {\n"
        "\tif len(os.Args) > 1 { time.Sleep(time.Hour); return }\n"
        '\tentries, _ := os.ReadDir("/proc")\n\tn := 0\n'
        "\tfor _, e := range entries { if e.Name()[0] >= '0' && e.Name()[0] <= '9' { n++ } }\n"
        '\t_, err := os.Stat("/tmp/marker")\n'
        '\tfmt.Println("processes:", n, "marker:", err == nil)\n'
        '\tos.WriteFile("/tmp/marker", []byte("x"), 0o644)\n'
        '\texec.Command(os.Args[0], "linger").Start()\n}\n'
    )
    first, second = run(sandbox_app, code), run(sandbox_app, code)
    # PID 1 (the sandbox's init, or under runsc the program's supervisor) and the program itself; where the
    # program is the sandbox's own process (the OCI backend with runc) it is PID 1. No survivor of an earlier run.
    processes = 1 if combination == Combination("oci", "runc") else 2
    assert first["stdout"] == f"processes: {processes} marker: false\n"
    assert second["stdout"] == f"processes: {processes} marker: false\n"
    assert wait_until_no_programs_left(combination.instance) == []


def test_compile_error_never_starts_a_run_sandbox(live: TestClient) -> None:
    result = run(live, "package main\n\nfunc main() { undefinedThing() }\n")
    assert result["status"] == "compile_error"
    assert "undefined: undefinedThing" in result["compile_output"]
    assert result["timings_ms"]["run"] == 0


def test_limits_above_caps_are_refused_before_docker(live: TestClient) -> None:
    response = live.post("/run", json={"code": HELLO, "limits": {"memory_mb": 10**6}})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_readyz_reports_ready(live: TestClient) -> None:
    assert live.get("/readyz").json() == {"status": "ready"}

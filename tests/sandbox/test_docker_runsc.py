"""The Docker backend under gVisor (GOSANDBOX_RUNTIME=runsc): every verdict, and the sandbox really is gVisor's.

Needs runsc registered with the engine (``make setup`` does it when it starts the engine; ``gosandbox doctor``
says how otherwise). The verdicts are the same as under runc; what differs is said where it is tested.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, ExecJob
from gosandbox.backends.docker.backend import DockerBackend, connect
from gosandbox.backends.docker.gvisor import builder_policy
from gosandbox.cli.runtimes import docker_runtime_checks
from gosandbox.limits import Limits
from gosandbox.policy import Policy
from gosandbox.wiring import config_from_settings
from support.docker_helpers import TEST_INSTANCE, docker_settings, run

INSTANCE = f"{TEST_INSTANCE}-runsc"
SPIN = "package main\n\nfunc main() { for {} }\n"
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, gVisor") }\n'
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def gvisor_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerBackend]:
    """A Docker backend whose sandboxes run under runsc."""
    if "runsc" not in connect().info().get("Runtimes", {}):
        pytest.fail("the engine has no runsc runtime: run `make setup` (see `gosandbox doctor`)")
    settings = docker_settings(tmp_path_factory.mktemp("runsc"), instance=INSTANCE, runtime="runsc")
    backend = DockerBackend(config_from_settings(settings))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def gvisor(gvisor_backend: DockerBackend) -> Iterator[TestClient]:
    """The HTTP app in-process on that backend."""
    settings = docker_settings(gvisor_backend.config.state_dir, instance=INSTANCE, runtime="runsc")
    with TestClient(create_app(settings, backend=gvisor_backend)) as client:
        yield client


def _runtimes_of_our_sandboxes() -> set[str]:
    client = connect()
    found = client.api.containers(all=True, filters={"label": f"gosandbox.instance={INSTANCE}"})
    runtimes = set()
    for container in found:
        with contextlib.suppress(docker.errors.NotFound):  # a used run sandbox is being removed
            runtimes.add(client.api.inspect_container(container["Id"])["HostConfig"]["Runtime"])
    return runtimes


def test_hello_world_runs_under_gvisor(gvisor: TestClient) -> None:
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\n'
        'func main() {\n\tv, _ := os.ReadFile("/proc/version")\n\tfmt.Println("hello, gVisor")\n'
        '\tfmt.Println(strings.Contains(string(v), "#1 SMP Sun Jan 10 15:06:54 PST 2016"))\n}\n'
    )
    result = run(gvisor, code)
    assert (result["status"], result["exit_code"]) == ("ok", 0), result
    # gVisor's Sentry reports this fixed kernel build to every sandbox; the host's kernel is another.
    assert result["stdout"] == "hello, gVisor\ntrue\n"
    assert Path("/proc/version").read_text().find("Sun Jan 10 15:06:54 PST 2016") == -1
    # The builder (runc), and the run's own sandbox (runsc) while its removal is pending: none is pre-started.
    assert "runc" in _runtimes_of_our_sandboxes() <= {"runc", "runsc"}
    assert gvisor.get("/version").json()["runtime"] == "runsc"


def test_compile_error_is_compile_error(gvisor: TestClient) -> None:
    result = run(gvisor, "package main\n\nfunc main() { undefinedThing() }\n")
    assert result["status"] == "compile_error"
    assert "undefined: undefinedThing" in result["compile_output"]


def test_endless_loop_times_out_and_its_sandbox_is_killed(gvisor: TestClient) -> None:
    started = time.monotonic()
    result = run(gvisor, "package main\n\nfunc main() { for {} }\n", limits={"wall_s": 1.5})
    assert (result["status"], result["signal"]) == ("timeout", "SIGKILL"), result
    assert time.monotonic() - started < 6  # the run's deadline, not a hung exec stream
    assert gvisor.get("/readyz").status_code == 200


def test_memory_hog_hits_the_memory_limit(gvisor: TestClient) -> None:
    result = run(gvisor, (EXAMPLES / "memory.go").read_text(), limits={"memory_mb": 64, "wall_s": 10})
    assert result["status"] == "memory_limit", result
    held = [int(line.split()[1]) for line in result["stdout"].splitlines() if line.startswith("holding")]
    assert held, result["stdout"]
    assert max(held) <= 64


def test_output_flood_stops_at_the_cap(gvisor: TestClient) -> None:
    flood = (
        'package main\n\nimport "os"\n\nfunc main() {\n\tline := make([]byte, 1024)\n'
        "\tfor i := 0; i < 10*1024; i++ {\n\t\tos.Stdout.Write(line)\n\t}\n}\n"
    )
    result = run(gvisor, flood, limits={"output_bytes": 65536})
    assert (result["status"], result["truncated"], len(result["stdout"])) == ("output_limit", True, 65536)


@pytest.fixture
def host_listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP listener on the host's loopback that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_no_network_but_loopback(gvisor: TestClient, host_listener: tuple[int, list[object]]) -> None:
    port, accepted = host_listener
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"net"\n\t"os"\n\t"time"\n)\n\nfunc main() {\n'
        '\tifaces, _ := net.Interfaces()\n\tfor _, i := range ifaces { fmt.Println("iface", i.Name) }\n'
        '\troute, _ := os.ReadFile("/proc/net/route")\n\tfmt.Printf("routes %q\\n", route)\n'
        '\tc, err := net.DialTimeout("tcp", os.Args[1], time.Second)\n'
        '\tif err == nil { c.Close(); fmt.Println("dial CONNECTED") } else { fmt.Println("dial failed") }\n}\n'
    )
    result = run(gvisor, code, args=[f"127.0.0.1:{port}"])
    lines = result["stdout"].splitlines()
    assert [line for line in lines if line.startswith("iface")] == ["iface lo"], lines
    routes = next(line for line in lines if line.startswith("routes"))
    assert "\\n0" not in routes, routes  # no route entries at all
    assert "dial failed" in lines, lines  # the sandbox's 127.0.0.1 is its own
    assert accepted == []


def test_cancel_stops_the_run(gvisor_backend: DockerBackend) -> None:
    build = gvisor_backend.build(BuildJob(files={"go.mod": "module m\n", "main.go": SPIN}, timeout_s=60))
    assert build.binary is not None, build.output
    job = ExecJob(binary=build.binary, stdin=b"", args=(), limits=Limits(wall_s=20))
    threading.Timer(1.0, job.cancel.set).start()
    started = time.monotonic()
    outcome = gvisor_backend.execute(job)
    assert outcome.cancelled, outcome
    assert outcome.exit_code in (137, None)
    assert time.monotonic() - started < 6


def test_cpu_time_and_peak_memory_are_the_programs_under_gvisor(gvisor: TestClient) -> None:
    """The sandbox's cgroup holds gVisor's Sentry and Gofer beside the program: the figures are its supervisor's."""
    result = run(gvisor, HELLO)
    assert result["status"] == "ok"
    assert 0 <= result["cpu_time_ms"] < 200, result  # the cgroup's would be the Sentry's start-up too
    assert 0 < result["peak_memory_kb"] < 16 * 1024, result  # gVisor's own ~14 MiB are not in it


def test_doctor_finds_runsc_usable_and_version_names_the_backend(gvisor: TestClient, tmp_path: Path) -> None:
    config = docker_settings(tmp_path, instance=INSTANCE, runtime="runsc")
    client = connect()
    started = time.monotonic()
    found = {c.name: c for c in docker_runtime_checks(client, client.info(), config)}
    assert time.monotonic() - started < 3  # both probes
    assert (found["docker runtime runsc"].ok, found["docker runtime runsc"].detail) == (
        True,
        "registered, a probe sandbox started",
    )
    assert found["docker runtime runc"].ok
    assert gvisor.get("/version").json()["backend"] == "docker"


def test_only_the_run_sandboxes_run_under_gvisor(gvisor_backend: DockerBackend) -> None:
    """The builder compiles, never runs the program: it stays on runc (a build under runsc took 2.7 times as long)."""
    assert {builder.policy.runtime for builder in gvisor_backend.builders.values()} == {"runc"}
    assert gvisor_backend.config.policy.runtime == "runsc"
    assert builder_policy(Policy()) == Policy()
    assert builder_policy(Policy(runtime="runsc")) == Policy(runtime="runc")

"""The deadline inside the sandbox: when the server is gone, its sandboxes stop by themselves.

The agent (PID 1 of a run sandbox) ends the run at ``wall_s`` + 1 s and an unclaimed pre-started
sandbox at the end of its lease; the server's own kill at ``wall_s`` stays the first line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker.errors
import httpx
import pytest
from fastapi.testclient import TestClient

from gosandbox.backends.base import BuildJob, ExecJob
from gosandbox.backends.docker.backend import DockerBackend, connect
from gosandbox.backends.docker.pool import RunSandbox
from gosandbox.backends.docker.reaper import list_sandboxes
from gosandbox.backends.pool import SandboxPool
from gosandbox.limits import Limits
from gosandbox.source import DEFAULT_GO_MOD
from gosandbox.wiring import config_from_settings
from support.docker_helpers import TEST_INSTANCE, docker_settings, program_processes, run, serving

FOREVER = "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n"
WALL_S = 3
LEASE_S = 6

_CPU_FILES = (
    ("/sys/fs/cgroup/cpu,cpuacct/docker/{id}/cpuacct.usage", 1),  # cgroup v1, cgroupfs driver (nanoseconds)
    ("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage", 1),
    ("/sys/fs/cgroup/docker/{id}/cpu.stat", 1000),  # cgroup v2: usage_usec
    ("/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat", 1000),
)


def cpu_ns(container_id: str) -> int | None:
    """CPU time the container's cgroup used so far; None when it has no cgroup (it stopped)."""
    for template, scale in _CPU_FILES:
        try:
            text = Path(template.format(id=container_id)).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key in ("", "usage_usec"):
                return int(value) * scale
    return None


def running(container_ids: list[str]) -> list[str]:
    api, alive = connect().api, []
    for container_id in container_ids:
        with contextlib.suppress(docker.errors.NotFound):
            if api.inspect_container(container_id)["State"]["Running"]:
                alive.append(container_id)
    return alive


def busy(container_ids: list[str], window_s: float = 0.5) -> dict[str, float]:
    """The containers that used CPU over ``window_s`` (a stopped one uses none), as a share of one CPU."""
    before = {container_id: cpu_ns(container_id) for container_id in running(container_ids)}
    assert all(v is not None for v in before.values()) or not before, f"no cgroup CPU figures here: {before}"
    time.sleep(window_s)
    after = {container_id: cpu_ns(container_id) for container_id in before}
    shares = {c: ((after[c] or 0) - (before[c] or 0)) / (window_s * 1e9) for c in before if after[c] is not None}
    return {container_id: share for container_id, share in shares.items() if share > 0.02}


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def containers_of(program_pids: list[int]) -> set[str]:
    ids = set()
    for pid in program_pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                tail = line.rsplit("/", 1)[-1].removeprefix("docker-").removesuffix(".scope")
                if len(tail) == 64:
                    ids.add(tail)
    return ids


def run_sandboxes(instance: str) -> list[str]:
    containers = connect().api.containers(all=True, filters={"label": [f"gosandbox.instance={instance}"]})
    return [c["Id"] for c in containers if c["Labels"].get("gosandbox.role") == "run"]


@pytest.mark.docker
def test_a_killed_servers_sandboxes_stop_by_themselves(tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-deadline"
    env = {"GOSANDBOX_POOL_SIZE": "2", "GOSANDBOX_SANDBOX_LEASE_S": str(LEASE_S)}
    with serving(tmp_path, instance, env) as server:
        assert wait_for(lambda: len(running(run_sandboxes(instance))) >= 2, 10), "the pool should fill"
        body = {"code": FOREVER, "limits": {"wall_s": WALL_S}}
        clients = [threading.Thread(target=_post, args=(f"{server.url}/run", body)) for _ in range(2)]
        for client in clients:
            client.start()
        assert wait_for(lambda: len(program_processes(instance)) == 2, 15), "both loops should be running"
        runs = containers_of(program_processes(instance))
        assert len(runs) == 2, runs

        server.process.kill()
        killed = time.monotonic()
        server.process.wait()
        # The runs started before the kill: the agent ends them at most wall_s + 1 s after it.
        stopped = wait_for(lambda: not running(list(runs)), WALL_S + 2)
        took = time.monotonic() - killed
        assert stopped, f"run sandboxes still running {took:.1f} s after the server's SIGKILL"
        assert program_processes(instance) == []
        assert busy(list_sandboxes(connect(), instance)) == {}, "no sandbox of the instance may use CPU"
        for client in clients:
            client.join(timeout=10)

        # The idle pre-started ones (and any the pool was starting as it died) end with their lease.
        idle = running(run_sandboxes(instance))
        assert wait_for(lambda: not running(run_sandboxes(instance)), LEASE_S + 2), f"still idle: {idle}"
        print(f"run sandboxes stopped {took:.1f} s after SIGKILL; {len(idle)} idle ones at their lease")
    assert list_sandboxes(connect(), instance) == []


def _post(url: str, body: dict[str, object]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
        httpx.post(url, json=body, timeout=30)


HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'


@pytest.mark.docker
def test_a_healthy_pool_renews_its_sandboxes_before_their_lease_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = docker_settings(tmp_path, instance=f"{TEST_INSTANCE}-lease")
    backend = DockerBackend(config_from_settings(settings, pool_size=1, sandbox_lease_s=3.0))
    try:
        build = backend.build(BuildJob({"main.go": HELLO, "go.mod": DEFAULT_GO_MOD}, 30))
        assert build.binary is not None, build.output
        pool = backend.pool
        assert pool is not None
        assert wait_for(lambda: pool.ready_count() == 1, 10)
        first = running(run_sandboxes(settings.instance))
        time.sleep(5)  # past the first pre-started sandbox's lease: the pool replaced it in time
        # One idle sandbox at a time (none for a moment while one is renewed), the first one long gone.
        assert wait_for(lambda: len(running(run_sandboxes(settings.instance))) == 1, 2)
        assert running(run_sandboxes(settings.instance)) != first, "the idle sandbox should have been renewed"
        outcome = backend.execute(ExecJob(build.binary, b"", (), Limits()))
        assert "unusable" not in caplog.text, "the pool handed out a sandbox that had stopped"
        assert (outcome.exit_code, outcome.stdout) == (0, b"hi\n"), outcome
        # Renewed ones are removed, not left behind as stopped containers.
        assert wait_for(lambda: len(run_sandboxes(settings.instance)) <= 2, 5), run_sandboxes(settings.instance)
    finally:
        backend.close()
    assert list_sandboxes(connect(), settings.instance) == []


@pytest.mark.docker
def test_the_program_cannot_reach_init_to_move_its_deadline(live: TestClient) -> None:
    code = (
        'package main\n\nimport (\n\t"fmt"\n\t"net"\n)\n\n'
        "func main() {\n"
        '\t_, err := net.Dial("unix", "@gosandbox-init")\n'
        "\tfmt.Println(err != nil)\n"
        "}\n"
    )
    result = run(live, code)
    assert (result["status"], result["stdout"]) == ("ok", "true\n"), result


class _Fake:
    """Sandboxes without Docker: each create is one more id; destroyed ones are remembered."""

    def __init__(self) -> None:
        self.created = 0
        self.destroyed: list[str] = []
        self.lock = threading.Lock()

    def create(self) -> RunSandbox:
        with self.lock:
            self.created += 1
            return RunSandbox(f"s{self.created}", Path("/nonexistent"), Limits())

    def destroy(self, sandbox: RunSandbox) -> None:
        with self.lock:
            self.destroyed.append(sandbox.container_id)


def test_the_pool_never_hands_out_a_sandbox_older_than_its_max_age() -> None:
    fake = _Fake()
    pool = SandboxPool(fake.create, fake.destroy, size=2, max_age_s=0.3)
    try:
        assert wait_for(lambda: pool.ready_count() == 2, 2)
        time.sleep(1.0)
        assert fake.created >= 6, "idle sandboxes are renewed every max_age_s"
        for _ in range(20):
            sandbox = pool.acquire()
            assert time.monotonic() - sandbox.started < 0.3 + 0.1  # young when handed out (0.1 s: a slow thread)
            time.sleep(0.05)
        assert wait_for(lambda: pool.ready_count() == 2, 2)
    finally:
        pool.close()
    assert fake.created - len(fake.destroyed) == 20, "every sandbox not handed out is destroyed"

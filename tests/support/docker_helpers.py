"""Helpers shared by the real-Docker tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker.errors
import httpx
from fastapi.testclient import TestClient

from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.images import AGENT
from gosandbox.backends.docker.reaper import list_sandboxes, reap
from gosandbox.backends.host_ids import IDS_PER_SANDBOX, host_range
from gosandbox.policy import PROGRAM_UID
from gosandbox.settings import Settings

#: A second toolchain: its builder is based on the default one (any image with Go at /usr/local/go works).
ALT = "go1.27-alt"

#: Every container the tests create carries this instance label; teardown removes them all.
TEST_INSTANCE = f"test-{os.getpid()}"


def docker_settings(state_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"state_dir": state_dir, "instance": TEST_INSTANCE, "pool_size": 2, "binary_cache_mb": 0}
    return Settings(**{**values, **overrides})


def _container_of(pid: str) -> str | None:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    found = re.search(r"docker[/-]([0-9a-f]{64})", text)
    return found.group(1) if found else None


def _oci_instance_of(pid: str) -> str | None:
    """The instance whose OCI sandbox's cgroup (``/gosandbox-oci/<instance>/<id>``, usage.py) holds ``pid``."""
    try:
        found = re.search(r"/gosandbox-oci/([A-Za-z0-9_.-]+)/", Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    return found.group(1) if found else None


def _belongs_to(container_id: str | None, instance: str, pid: str = "") -> bool:
    """A process of ``instance``, or one in no sandbox or whose container is already gone (a leak)."""
    if container_id is None:
        oci_instance = _oci_instance_of(pid)
        return oci_instance is None or oci_instance == instance
    try:
        labels = connect().api.inspect_container(container_id)["Config"]["Labels"] or {}
    except docker.errors.NotFound:  # the container is gone but its process is not
        return True
    return bool(labels.get("gosandbox.instance") == instance)


def program_processes(instance: str = TEST_INSTANCE) -> list[int]:
    """Host pids running as the sandboxed program's uid in this test run's sandboxes.

    The program's uid on the host is its own under Docker and runsc; under the OCI backend's runc it is that
    uid of its sandbox's user namespace's host range (backends/oci/userns.py). Other gosandbox instances on
    this engine are ignored.
    """
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if "\nState:\tZ" in text:
            continue  # a zombie is dead already: it runs nothing and holds no memory
        uid_line = next((line for line in text.splitlines() if line.startswith("Uid:")), "")
        pid = status.parent.name
        ours = _is_program_uid(uid_line.split()[1:2]) and _belongs_to(_container_of(pid), instance, pid)
        if ours and not _waits_for_a_run(pid, text):
            pids.append(int(pid))
    return pids


def _waits_for_a_run(pid: str, status: str) -> bool:
    """A sandbox created ahead (backends/oci/ahead.py) before any run: its first process, the launcher (PID 1 of
    its namespace, the agent's own binary, ``launch``), or runc's init still making it. No program runs there."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    nspid = next((line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")), "")
    launcher = nspid == "1" and exe == AGENT and argv[:2] == [AGENT.encode(), b"launch"]
    making = len(argv) > 1 and argv[0].endswith(b"/runc") and argv[1] == b"init"
    return launcher or making


def _is_program_uid(field: list[str]) -> bool:
    uid = int(field[0]) if field and field[0].isdigit() else -1
    return uid == PROGRAM_UID or (uid in host_range() and uid % IDS_PER_SANDBOX == PROGRAM_UID)


def wait_for_program_processes(instance: str, count: int, timeout_s: float = 15.0) -> bool:
    """Wait until at least ``count`` programs of ``instance`` run."""
    deadline = time.monotonic() + timeout_s
    while len(program_processes(instance)) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def wait_until_no_program_processes(timeout_s: float = 10.0, instance: str = TEST_INSTANCE) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := program_processes(instance)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def oci_sandbox_processes(instance: str) -> list[int]:
    """Host pids of any uid in ``instance``'s OCI sandboxes' cgroups: the program under runc, gVisor's Sentry,
    Gofer and stubs under runsc; but the sandboxes created ahead (under runc) while they wait for a run."""
    pids = []
    for cgroup in Path("/proc").glob("[0-9]*/cgroup"):
        pid = cgroup.parent.name
        if _oci_instance_of(pid) == instance:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # gone meanwhile
            if not _waits_for_a_run(pid, status):
                pids.append(int(pid))
    return pids


#: Where Docker 20.10 keeps runsc's state of its containers (``--root`` on every runsc process it starts).
DOCKER_RUNSC_ROOT = "/var/run/docker/runtime-runc/moby"


def gvisor_program_tasks(instance: str) -> list[str]:
    """The program's tasks in ``instance``'s Docker sandboxes under runsc, by ``runsc ps``.

    Under gVisor the program's processes are the Sentry's tasks, not host processes (the host sees the Sentry
    as nobody and the Gofer as root): only the runtime can list them. ``docker top`` cannot (here it answers
    with the host's PID 1).
    """
    client, tasks = connect(), []
    for container in client.api.containers(filters={"label": f"gosandbox.instance={instance}"}):
        try:
            if client.api.inspect_container(container["Id"])["HostConfig"]["Runtime"] != "runsc":
                continue
        except docker.errors.NotFound:
            continue  # removed meanwhile
        listed = subprocess.run(["runsc", "--root", DOCKER_RUNSC_ROOT, "ps", container["Id"]],
                                capture_output=True, text=True, timeout=10, check=False)  # fmt: skip
        if listed.returncode != 0:  # being removed, or runsc cannot see into it: then it counts, unlisted
            if _still_running(client, container["Id"]):
                tasks.append(f"{container['Id'][:12]}:unlisted ({listed.stderr.strip()[-200:]})")
            continue
        rows = [line.split() for line in listed.stdout.splitlines()[1:]]
        tasks += [f"{container['Id'][:12]}:{row[1]}" for row in rows if row and row[0] == str(PROGRAM_UID)]
    return tasks


def _still_running(client: docker.DockerClient, container_id: str) -> bool:
    try:
        state = client.api.inspect_container(container_id)["State"]
    except docker.errors.NotFound:
        return False
    return bool(state["Running"]) and state["Status"] == "running"


def programs_left(instance: str = TEST_INSTANCE) -> list[str]:
    """Every trace of a program still running for ``instance``, under any backend and runtime: host processes
    of its uid (runc, or an escape), any process in its OCI sandboxes' cgroups, its tasks inside gVisor."""
    host = sorted(set(program_processes(instance)) | set(oci_sandbox_processes(instance)))
    return [f"pid {pid}" for pid in host] + [f"gVisor task {task}" for task in gvisor_program_tasks(instance)]


def wait_until_no_programs_left(instance: str = TEST_INSTANCE, timeout_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (left := programs_left(instance)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def run(client: TestClient, code: str | None = None, **body: Any) -> dict[str, Any]:
    """POST /run with JSON and return the 200 body."""
    payload = {"code": code, **body} if code is not None else body
    response = client.post("/run", json=payload)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``gosandbox serve`` in a subprocess with its own instance label and state directory, started at once.

    ``env`` adds settings; its stderr (INFO and up) goes to ``log``, across restarts (:meth:`start`).
    """

    def __init__(self, state_dir: Path, instance: str, env: Mapping[str, str] | None = None) -> None:
        self.state_dir, self.instance, self.port = state_dir, instance, free_port()
        self.env, self.log = dict(env or {}), state_dir / f"serve-{instance}.log"
        self.process = self._spawn()
        self._wait_until_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it again (on the same port, the same log) after it stopped."""
        self.process = self._spawn()
        self._wait_until_ready()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "GOSANDBOX_STATE_DIR": str(self.state_dir), "GOSANDBOX_INSTANCE": self.instance,
               "GOSANDBOX_POOL_SIZE": "2", "GOSANDBOX_LOG_LEVEL": "info", **self.env}  # fmt: skip
        command = [sys.executable, "-m", "gosandbox.cli.main", "serve", "--port", str(self.port)]
        with self.log.open("ab") as stderr:
            return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.stderr()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.process.kill()  # a server that did not start is not left behind
        self.process.wait()
        raise AssertionError(f"the server did not become ready within 30 s:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def sandboxes(self) -> list[str]:
        return list_sandboxes(connect(), self.instance)

    def wait_for_sandboxes(self, predicate: object, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while not predicate(left := self.sandboxes()) and time.monotonic() < deadline:  # type: ignore[operator]
            time.sleep(0.1)
        return left


@contextmanager
def serving(state_dir: Path, instance: str, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """A started server; killed if still running at the end, and its instance's containers removed."""
    server = Server(state_dir, instance, env)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        reap_until_quiet(instance)


def reap_until_quiet(instance: str, timeout_s: float = 10.0) -> None:
    """Reap until nothing is left: a killed server's last create request can still complete in the engine."""
    client, deadline = connect(), time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if reap(client, instance):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
        time.sleep(0.2)


def sandboxes_of_this_test_run() -> list[str]:
    """Containers of every instance this test run created (their instance label starts with ours)."""
    containers = connect().api.containers(all=True, filters={"label": "gosandbox"})
    return [c["Id"] for c in containers if c["Labels"].get("gosandbox.instance", "").startswith(TEST_INSTANCE)]

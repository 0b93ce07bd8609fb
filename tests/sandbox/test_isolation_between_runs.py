"""No channel between two runs that exist at the same time, on every backend and runtime.

Under runc a sandbox is a process tree of the host's kernel: what the kernel keys by inode (``flock``) or by
host user (``fs.inotify.max_user_instances``) would be shared by sandboxes sharing a root filesystem's
inodes or a host uid. The OCI backend gives each runc sandbox its own overlay of the root and its own user
namespace on a host uid range of its own (backends/oci/separation.py); Docker gives each container its own
overlay, and under runc the backend runs each sandbox's program as a host uid of its own, from the same slots
(backends/host_ids.py): the engine's containers share its users.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gosandbox.backends.base import Backend, BuildJob, ExecJob, ExecOutcome
from gosandbox.backends.host_ids import host_range
from gosandbox.backends.oci.userns import NamespacesAhead
from gosandbox.limits import Limits
from gosandbox.policy import PROGRAM_UID
from support.combinations import COMBINATIONS, Combination, every_combination
from support.docker_helpers import program_processes

pytestmark = pytest.mark.docker

_PROBE = """package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

var locked = []string{"/etc/passwd", "/usr/local/bin", "/"}

func main() {
	switch os.Args[1] {
	case "hold": // an exclusive flock on root filesystem files, held until the run is cancelled
		for _, path := range locked {
			f, err := os.Open(path)
			if err == nil {
				err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			}
			fmt.Printf("hold %s: %v\\n", path, err)
		}
		fmt.Println("locked")
	case "probe": // does this sandbox see the other's lock?
		for _, path := range locked {
			f, err := os.Open(path)
			if err == nil {
				err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			}
			fmt.Printf("probe %s: %v\\n", path, err)
		}
		return
	case "hog": // every inotify instance this sandbox's user may have, held
		n := 0
		var err error
		for err == nil && n < 100000 {
			if _, err = syscall.InotifyInit1(0); err == nil {
				n++
			}
		}
		fmt.Printf("held %d: %v\\n", n, err)
	case "one":
		_, err := syscall.InotifyInit1(0)
		fmt.Printf("inotify: %v\\n", err)
		return
	case "ids":
		uidMap, err := os.ReadFile("/proc/self/uid_map")
		fmt.Printf("uid_map %q %v\\nuid %d\\n", uidMap, err, os.Getuid())
	}
	time.Sleep(60 * time.Second)
}
"""

_RUNC = tuple(c for c in COMBINATIONS if not c.gvisor)
_LIMITS = replace(Limits(), wall_s=30)


@pytest.fixture
def probe(combination: Combination, sandbox_backend: Backend) -> bytes:
    built = sandbox_backend.build(BuildJob(files={"main.go": _PROBE, "go.mod": "module m\n\ngo 1.21\n"}, timeout_s=120))
    assert built.succeeded, built.output
    assert built.binary is not None
    return built.binary


class Holding:
    """A run started in a thread, held (until :meth:`end`) once its output has shown ``ready``."""

    def __init__(self, backend: Backend, binary: bytes, mode: str, ready: str) -> None:
        self.output, self.ready = b"", threading.Event()
        self.job = ExecJob(binary, b"", (mode,), _LIMITS, on_output=self._seen(ready.encode()))
        self.outcome: ExecOutcome | None = None
        self._thread = threading.Thread(target=self._run, args=(backend,), daemon=True)
        self._thread.start()

    def _seen(self, needle: bytes) -> Callable[[str, bytes], None]:
        def on_output(stream: str, chunk: bytes) -> None:
            self.output += chunk
            if needle in self.output:
                self.ready.set()

        return on_output

    def _run(self, backend: Backend) -> None:
        try:
            self.outcome = backend.execute(self.job)
        finally:
            self.ready.set()  # a run that ended early wakes the test, which then sees its output

    def wait_ready(self) -> str:
        assert self.ready.wait(60), "the holding run never got ready"
        assert self.outcome is None, f"the holding run ended: {self.outcome}"
        return self.output.decode()

    def end(self) -> None:
        self.job.cancel.set()
        self._thread.join(60)
        assert not self._thread.is_alive()


@pytest.fixture
def holding(sandbox_backend: Backend, probe: bytes) -> Iterator[Callable[[str, str], Holding]]:
    held: list[Holding] = []

    def start(mode: str, ready: str) -> Holding:
        held.append(Holding(sandbox_backend, probe, mode, ready))
        return held[-1]

    yield start
    for run in held:
        run.end()


def _run_once(backend: Backend, binary: bytes, mode: str) -> str:
    outcome = backend.execute(ExecJob(binary, b"", (mode,), _LIMITS))
    assert outcome.exit_code == 0, outcome
    return outcome.stdout.decode()


@every_combination
def test_a_lock_on_the_root_filesystem_is_not_seen_by_another_run(
    sandbox_backend: Backend, probe: bytes, holding: Callable[[str, str], Holding]
) -> None:
    held = holding("hold", "locked\n").wait_ready()
    assert held.count(": <nil>") == 3, held
    probed = _run_once(sandbox_backend, probe, "probe")
    assert probed.splitlines() == [
        "probe /etc/passwd: <nil>",
        "probe /usr/local/bin: <nil>",
        "probe /: <nil>",
    ], f"the other run's lock is seen (a channel between runs):\n{probed}"


@pytest.mark.parametrize("combination", _RUNC, ids=str)
def test_one_run_holding_every_inotify_instance_leaves_another_runs_own(
    sandbox_backend: Backend, probe: bytes, holding: Callable[[str, str], Holding]
) -> None:
    per_user = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    held = holding("hog", "held ").wait_ready()
    assert held.startswith(f"held {per_user}: too many open files"), held  # the per-user limit, not RLIMIT_NOFILE
    assert _run_once(sandbox_backend, probe, "one") == "inotify: <nil>\n"


@pytest.mark.parametrize("combination", [Combination("oci", "runc")], ids=str)
def test_a_runc_program_is_an_unprivileged_host_uid_of_its_own_user_namespace(
    combination: Combination, probe: bytes, holding: Callable[[str, str], Holding]
) -> None:
    output = holding("ids", "uid ").wait_ready()
    found = re.search(r'uid_map "\s*0\s+(\d+)\s+(\d+)\\n" <nil>\nuid (\d+)\n', output)
    assert found is not None, output
    host_base, size, uid = (int(group) for group in found.groups())
    assert (size, uid) == (65536, PROGRAM_UID)
    assert host_base >= 100_000
    assert host_base in host_range()
    # From the host: the program's process runs as that range's id of the program's uid, nothing else.
    pids = program_processes(combination.instance)
    host_uids = {_host_uid(pid) for pid in pids}
    assert host_base + PROGRAM_UID in host_uids, (pids, host_uids)


def _host_uid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def test_user_namespaces_made_ahead_are_each_taken_once_and_end_with_close() -> None:
    # A backend made by another test of this process may hold namespaces of its own: only new holders count.
    before = set(_holders_of(os.getpid()))
    ahead = NamespacesAhead(depth=2)
    taken = [ahead.take() for _ in range(3)]  # two made ahead, the third made at once
    try:
        assert len({namespace.path for namespace in taken}) == 3
        assert len({namespace.ids.host_base for namespace in taken}) == 3
        for namespace in taken:
            uid_map = Path(namespace.path).parents[1] / "uid_map"
            assert uid_map.read_text().split() == ["0", str(namespace.ids.host_base), "65536"]
    finally:
        for namespace in taken:
            namespace.close()
        ahead.close()
    assert set(_holders_of(os.getpid())) - before == set()  # the taken ones and those still waiting: all ended


def _holders_of(parent: int) -> list[int]:
    """This process's children running as a uid of the sandboxes' host range (the namespaces' holders)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields["PPid"]) == parent and int(fields["Uid"].split()[0]) in host_range():
            found.append(int(status.parent.name))
    return found

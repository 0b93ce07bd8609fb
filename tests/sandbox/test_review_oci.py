"""Review of the OCI backend: what the server, as root, writes and unpacks on the host for a sandbox.

The backend writes each run's files and unpacks the run image as root, so it must not trust a
name or an archive member to stay where it says, nor the umask to give a file its mode.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gosandbox.backends.base import BuildJob, ExecJob
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.backends.oci.bundle import Bundle, BundlePlace, write_bundle
from gosandbox.backends.oci.deathwatch import DeathWatch
from gosandbox.backends.oci.rootfs import RootfsFilter, UnsafeImageMember
from gosandbox.backends.oci.runtime import OciRuntime
from gosandbox.backends.oci.separation import views_of
from gosandbox.backends.oci.usage import CGROUP_PARENT
from gosandbox.errors import BackendUnavailable, InvalidSource
from gosandbox.limits import Limits
from gosandbox.settings import Settings
from gosandbox.wiring import oci_config_from_settings
from support.docker_helpers import docker_settings

_STRAY = "stray-by-review"


@pytest.fixture
def no_umask() -> Iterator[None]:
    """The most permissive umask a server could run under: modes must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _bundle(tmp_path: Path, files: dict[str, str]) -> Bundle:
    place = BundlePlace(tmp_path / "rootfs", "review", Settings(state_dir=tmp_path).policy(), "runc")
    bundle = Bundle(tmp_path / "bundles" / "one", "one")
    bundle.directory.parent.mkdir(parents=True)
    write_bundle(place, bundle, ExecJob(b"\x7fELF", b"in", (), Limits(), package_files=files))
    return bundle


@pytest.mark.parametrize("name", [f"/tmp/{_STRAY}", f"../../{_STRAY}", f"a/../../../{_STRAY}", f"./{_STRAY}"])
def test_a_package_file_name_that_leaves_the_bundle_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidSource):
        _bundle(tmp_path, {"main.go": "package main\n", name: "planted\n"})
    assert not Path(f"/tmp/{_STRAY}").exists()
    assert list(tmp_path.rglob(_STRAY)) == []


def test_a_name_both_file_and_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSource):
        _bundle(tmp_path, {"a": "x", "a/b.txt": "y"})


@pytest.mark.usefixtures("no_umask")
def test_the_handed_over_files_have_fixed_modes_whatever_the_umask(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"main.go": "package main\n", "testdata/deep/x.txt": "x\n"})
    modes = {
        path.relative_to(bundle.sandbox_dir).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in bundle.sandbox_dir.rglob("*")
    }
    assert modes == {
        "prog": 0o755,
        "stdin": 0o644,
        "pkg": 0o755,
        "pkg/main.go": 0o644,
        "pkg/testdata": 0o755,
        "pkg/testdata/deep": 0o755,
        "pkg/testdata/deep/x.txt": 0o644,
    }
    assert (bundle.sandbox_dir / "pkg" / "testdata" / "deep" / "x.txt").read_text() == "x\n"


def _archive(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for member, content in members:
            member.size = len(content) if member.isreg() else 0
            tar.addfile(member, io.BytesIO(content) if member.isreg() else None)
    data.seek(0)
    return data


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    member = tarfile.TarInfo(name)
    member.type, member.mode, member.linkname = kind, mode, link
    return member, b"content" if kind == tarfile.REGTYPE else b""


def _unpack(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    with tarfile.open(fileobj=_archive(*members), mode="r|") as tar:
        tar.extractall(tree, filter=RootfsFilter(), numeric_owner=True)
    return tree


def test_the_run_images_shape_unpacks_with_its_modes_but_no_setuid(tmp_path: Path) -> None:
    tree = _unpack(
        tmp_path,
        _member("tmp", tarfile.DIRTYPE, 0o1777),
        _member("etc", tarfile.DIRTYPE, 0o755),
        _member("etc/mtab", tarfile.SYMTYPE, 0o777, "/proc/mounts"),
        _member("usr/local/bin/agent", mode=0o4755),
    )
    assert stat.S_IMODE((tree / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(tree / "etc" / "mtab") == "/proc/mounts"
    assert stat.S_IMODE((tree / "usr/local/bin/agent").stat().st_mode) == 0o755


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([_member("dev/evil", tarfile.CHRTYPE, 0o666)], "not a regular file"),
        ([_member("dev/disk", tarfile.BLKTYPE, 0o666)], "not a regular file"),
        ([_member("tmp/fifo", tarfile.FIFOTYPE, 0o666)], "not a regular file"),
        ([_member("etc/passwd"), _member("etc/hard", tarfile.LNKTYPE, link="etc/passwd")], "not a regular file"),
        ([_member("out", tarfile.SYMTYPE, 0o777, "/"), _member("out/planted")], "beneath a symbolic link"),
        ([_member("up", tarfile.SYMTYPE, 0o777, "sub"), _member("up/x/y")], "beneath a symbolic link"),
    ],
)
def test_what_a_run_image_has_no_use_for_is_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], why: str
) -> None:
    with pytest.raises(UnsafeImageMember, match=why):
        _unpack(tmp_path, *members)
    assert not Path("/planted").exists()


@pytest.mark.parametrize("instance", [".", ".."])
def test_an_instance_that_is_not_a_path_segment_of_its_own_is_refused(tmp_path: Path, instance: str) -> None:
    """With "..", reaping would remove the state directory's every bundle and empty cgroups at the cgroup root."""
    with pytest.raises(ValueError, match="instance"):  # the settings refuse it first
        docker_settings(tmp_path, instance=instance, backend="oci")
    settings = docker_settings(tmp_path, backend="oci").model_copy(update={"instance": instance})  # past them
    with pytest.raises(BackendUnavailable, match="instance"):
        OciBackend(oci_config_from_settings(settings))


_PACKAGE_PROBE = """package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	for _, path := range []string{"/sandbox/pkg", "/sandbox/pkg/testdata/x.txt", "/sandbox/stdin", "/sandbox/prog"} {
		var s syscall.Stat_t
		if err := syscall.Stat(path, &s); err != nil {
			fmt.Println(path, err)
			continue
		}
		fmt.Printf("%s %o %d\\n", path, s.Mode&07777, s.Uid)
	}
	data, err := os.ReadFile("testdata/x.txt")
	fmt.Printf("read %q %v\\n", data, err)
	fmt.Println("write", os.WriteFile("testdata/x.txt", []byte("changed"), 0o644) != nil)
}
"""


@pytest.mark.docker
@pytest.mark.usefixtures("no_umask")
def test_package_files_reach_the_sandbox_read_only_with_their_modes(oci_backend: OciBackend) -> None:
    files = {"main.go": _PACKAGE_PROBE, "go.mod": "module m\n\ngo 1.27\n"}
    built = oci_backend.build(BuildJob(files=files, timeout_s=120))
    assert built.succeeded, built.output
    assert built.binary is not None
    package = {**files, "testdata/x.txt": "data\n"}
    job = ExecJob(built.binary, b"", (), replace(Limits(), wall_s=10), package_files=package)
    result = oci_backend.execute(job)
    assert result.exit_code == 0, result
    lines = result.stdout.decode().splitlines()
    # Root's files on the host: under runc's user namespace the host's root is no id of the sandbox's, so the
    # kernel shows the overflow id 65534 (nobody); not the program's either way.
    root = "65534" if oci_backend.runtime.name == "runc" else "0"
    assert lines[:2] == [f"/sandbox/pkg 755 {root}", f"/sandbox/pkg/testdata/x.txt 644 {root}"]
    # gVisor's gofer shows a donated or remote file's owner its own way: the mode is what counts.
    assert lines[2].startswith("/sandbox/stdin 644 ")
    assert lines[3] == f"/sandbox/prog 755 {root}"
    assert lines[4:] == ['read "data\\n" <nil>', "write true"]


_SLEEPER = """package main

import (
	"fmt"
	"os"
	"time"
)

func main() { fmt.Println("sleeping"); os.Stdout.Sync(); time.Sleep(time.Hour) }
"""

#: A server that runs one sleeper in an OCI sandbox, says so, and waits to be killed.
_DOOMED_SERVER = """
import sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from support.docker_helpers import docker_settings
from gosandbox.backends.base import ExecJob
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.limits import Limits
from gosandbox.wiring import oci_config_from_settings
settings = docker_settings(Path(sys.argv[2]), instance=sys.argv[3], backend="oci", runtime=sys.argv[4], pool_size=0)
backend = OciBackend(oci_config_from_settings(settings))
job = ExecJob(Path(sys.argv[5]).read_bytes(), b"", (), Limits(wall_s=30))
threading.Thread(target=backend.execute, args=(job,), daemon=True).start()
while not backend.runtime.list_ids():
    time.sleep(0.02)
print("running", flush=True)
time.sleep(60)
"""


@pytest.mark.docker
def test_a_killed_servers_sandboxes_die_with_it_not_at_the_next_start(oci_backend: OciBackend, tmp_path: Path) -> None:
    """Nothing inside an OCI sandbox holds its deadline: without the watcher, this sleeper outlived its server."""
    runtime = oci_backend.runtime.name
    built = oci_backend.build(BuildJob(files={"main.go": _SLEEPER, "go.mod": "module m\n\ngo 1.27\n"}, timeout_s=120))
    assert built.binary is not None, built.output
    binary = tmp_path / "sleeper"
    binary.write_bytes(built.binary)
    instance = f"{oci_backend.config.builds.instance}-doomed"
    state = tmp_path / "state"
    tests_dir = str(Path(__file__).parents[1])
    command = [sys.executable, "-c", _DOOMED_SERVER, tests_dir, str(state), instance, runtime, str(binary)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    settings = docker_settings(state, instance=instance, backend="oci", runtime=runtime, pool_size=0)
    try:
        assert server.stdout is not None
        assert server.stdout.readline() == "running\n"
        assert _processes_of(instance) != []
        views = views_of(instance)  # under runc the sandbox's root view is mounted there (separation.py)
        assert (runtime == "runc") == (views.is_dir() and any(views.iterdir()))
        server.kill()
        server.wait(timeout=10)
        deadline = time.monotonic() + 5
        while (_processes_of(instance) or views.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_of(instance) == [], "the dead server's sandbox lives on"
        assert not views.exists(), "the dead server's root views stay mounted"
        successor = OciBackend(oci_config_from_settings(settings))
        assert successor.runtime.list_ids() == []
    finally:
        server.kill()
        server.wait(timeout=10)
        cleanup = OciBackend(oci_config_from_settings(settings))
        cleanup.start()  # removes the dead server's builder container and anything left
        cleanup.close()


def _processes_of(instance: str) -> list[int]:
    marker = f"{CGROUP_PARENT}/{instance}/"
    found = []
    for cgroup in Path("/proc").glob("[0-9]*/cgroup"):
        try:
            if marker in cgroup.read_text():
                found.append(int(cgroup.parent.name))
        except OSError:
            continue
    return found


def test_the_watcher_ends_with_close(tmp_path: Path) -> None:
    runtime = OciRuntime("runc", "/usr/sbin/runc", tmp_path / "root")
    watch = DeathWatch(runtime)
    assert Path(f"/proc/{watch.pid}").exists()
    watch.close()
    assert not Path(f"/proc/{watch.pid}").exists()
    watch.close()  # twice: no error, and no other descriptor closed

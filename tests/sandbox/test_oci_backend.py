"""The OCI backend on real runtimes (runc, runsc) and the real run image: verdict facts, limits, isolation, reaping."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.backends.oci.rootfs import rootfs_for
from gosandbox.errors import BackendUnavailable
from gosandbox.limits import Limits
from gosandbox.wiring import make_backend, oci_config_from_settings
from support import oci_programs as programs
from support.docker_helpers import TEST_INSTANCE, docker_settings, serving
from support.oci_helpers import binary_of, processes_of, sandboxes_after_removal


def execute(backend: OciBackend, source: str, *args: str, **limits: Any) -> ExecOutcome:
    job = ExecJob(binary_of(backend, source), b"", args, replace(Limits(wall_s=10), **limits))
    return backend.execute(job)


def test_hello_exits_0_with_its_output(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.HELLO)
    assert (result.exit_code, result.signal, result.stdout, result.stderr) == (0, None, b"hello\n", b"")
    assert [result.timed_out, result.oom_killed, result.output_exceeded, result.cancelled] == [False] * 4


def test_stdout_and_stderr_reach_the_sink_in_written_order(oci_backend: OciBackend) -> None:
    seen: list[tuple[str, bytes]] = []
    job = ExecJob(binary_of(oci_backend, programs.ORDER), b"", (), Limits(), on_output=lambda n, d: seen.append((n, d)))
    result = oci_backend.execute(job)
    assert result.exit_code == 0
    expected = [(name, f"{name[3:]}{i}\n".encode()) for i in range(3) for name in ("stdout", "stderr")]
    assert seen == expected
    assert (result.stdout, result.stderr) == (b"out0\nout1\nout2\n", b"err0\nerr1\nerr2\n")


def test_exit_code_3(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.EXIT_3)
    assert (result.exit_code, result.signal, result.stdout) == (3, None, b"bye\n")


def test_panic_exits_2_with_its_trace(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.PANIC)
    assert result.exit_code == 2
    assert b"panic: boom" in result.stderr


def test_the_deadline_kills_the_whole_sandbox(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.SLEEP, wall_s=1)
    assert result.timed_out
    assert (result.exit_code, result.signal) == (137, 9)
    assert result.stdout == b"sleeping\n"
    assert 1.0 <= result.duration_s < 3.0
    assert sandboxes_after_removal(oci_backend) == []
    assert processes_of(oci_backend) == []


def test_cancel_kills_within_a_second(oci_backend: OciBackend) -> None:
    job = ExecJob(binary_of(oci_backend, programs.SLEEP), b"", (), Limits(wall_s=20))
    threading.Timer(0.5, job.cancel.set).start()
    started = time.monotonic()
    result = oci_backend.execute(job)
    assert result.cancelled
    assert not result.timed_out
    assert processes_of(oci_backend) == []
    assert time.monotonic() - started < 0.5 + 1.0 + _start_allowance(oci_backend)


def test_an_output_flood_stops_at_the_cap(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.FLOOD, output_bytes=10_000)
    assert result.output_exceeded
    assert len(result.stdout) + len(result.stderr) == 10_000
    assert result.signal == 9
    assert result.duration_s < 5


def test_a_memory_bomb_is_oom_killed(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.MEMORY_BOMB, memory_mb=64)
    assert result.oom_killed, result
    assert (result.exit_code, result.signal) == (137, 9)
    assert not result.timed_out
    assert b"held 16 MiB" in result.stdout


def test_a_thread_bomb_meets_the_pids_limit(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.THREAD_BOMB, pids=32, memory_mb=64)
    assert not result.timed_out, result
    if oci_backend.runtime.name == "runc":
        assert (result.exit_code, result.pids_limit_hit) == (2, True), result
        assert b"failed to create new OS thread" in result.stderr
        return
    # Under runsc the program's threads are Sentry tasks, which the host's pids limit does not count: Go's own
    # 10000-thread limit ends the program (exit 2), or the memory they take does.
    assert result.exit_code == 2 or result.oom_killed, result


def test_cpu_time_and_peak_memory_are_the_programs(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.BUSY)
    assert result.exit_code == 0, result
    # Under runsc from the program's supervisor, not the cgroup alone (it holds gVisor's Sentry and Gofer too).
    assert result.cpu_time_ms is not None
    assert result.peak_memory_kb is not None
    # It burns until its own count says 300 ms; under runsc that count is gVisor's, which a busy host inflates,
    # and the figure may be the cgroup's, less (backends/supervisor.py).
    assert (150 if oci_backend.runtime.name == "runsc" else 300) <= result.cpu_time_ms < 3000
    assert 48 * 1024 <= result.peak_memory_kb < 128 * 1024


def test_only_tmp_is_writable(oci_backend: OciBackend) -> None:
    result = execute(oci_backend, programs.WRITES)
    assert result.stdout.decode().splitlines() == ["/tmp/f true", "/etc/f false", "/sandbox/f false"], result


def test_the_run_image_is_unpacked_once_and_shared(oci_backend: OciBackend) -> None:
    oci_dir = oci_backend.config.state_dir
    image = oci_backend.builds.images.runner
    first = rootfs_for(oci_backend.builds.client, image, oci_dir)
    made = first.stat().st_mtime_ns
    assert rootfs_for(oci_backend.builds.client, image, oci_dir) == first
    assert first.stat().st_mtime_ns == made
    assert [path.name for path in (oci_dir / "rootfs").iterdir()] == [first.name]  # no temporary tree left
    assert (first / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert first.stat().st_uid == 0


@pytest.fixture
def host_listener() -> Iterator[str]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_no_network_not_even_the_hosts_loopback(oci_backend: OciBackend, host_listener: str) -> None:
    result = execute(oci_backend, programs.NETWORK, host_listener)
    assert result.exit_code == 0, result
    lines = result.stdout.decode().splitlines()
    assert [line for line in lines if line.startswith("interface")] in ([], ["interface lo"])
    assert "routes 0" in lines
    assert lines[-1] == "dial failed"


def test_a_new_start_removes_what_a_lost_predecessor_left(oci_backend: OciBackend) -> None:
    # None created ahead: every sandbox listed is the run's
    builds = replace(oci_backend.config.builds, instance=f"{TEST_INSTANCE}-reap")
    config = replace(oci_backend.config, ahead=0, builds=builds)
    lost = OciBackend(config)
    job = ExecJob(binary_of(oci_backend, programs.SLEEP), b"", (), Limits(wall_s=30))
    results: list[ExecOutcome] = []
    runner = threading.Thread(target=lambda: results.append(lost.execute(job)), daemon=True)
    runner.start()
    deadline = time.monotonic() + 10
    while not lost.runtime.list_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost.runtime.list_ids(), "the lost backend's sandbox never started"
    assert processes_of(lost) != []
    successor = OciBackend(config)  # the predecessor is never closed
    successor.start()
    assert successor.runtime.list_ids() == []
    assert processes_of(successor) == []
    runner.join(timeout=5)
    assert results, "the predecessor's run did not end when its sandbox was removed"
    assert results[0].signal == 9
    successor.close()
    assert successor.runtime.list_ids() == []
    bundles = successor.config.state_dir / "bundles" / config.builds.instance
    assert not bundles.exists()


def _start_allowance(backend: OciBackend) -> float:
    """A sandbox's start counts in the wall time a caller sees, and gVisor's start is the slower."""
    return 0.5 if backend.runtime.name == "runsc" else 0.2


def test_the_server_runs_on_the_oci_backend_when_settings_say_so(oci_backend: OciBackend, tmp_path: Path) -> None:
    instance = f"{TEST_INSTANCE}-serve-{oci_backend.runtime.name}"
    env = {"GOSANDBOX_BACKEND": "oci", "GOSANDBOX_RUNTIME": oci_backend.runtime.name, "GOSANDBOX_BINARY_CACHE_MB": "0"}
    try:
        with serving(tmp_path, instance, env) as server:
            response = httpx.post(f"{server.url}/run", json={"code": programs.HELLO}, timeout=60)
            assert response.status_code == 200, response.text
            assert (response.json()["status"], response.json()["stdout"]) == ("ok", "hello\n")
    finally:  # the server was killed: its successor's start removes what it left
        settings = docker_settings(tmp_path, instance=instance, runtime=oci_backend.runtime.name, pool_size=0)
        successor = OciBackend(oci_config_from_settings(settings))
        successor.start()
        assert successor.runtime.list_ids() == []
        successor.close()


def test_the_oci_backend_refuses_without_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(BackendUnavailable, match="needs root") as refused:
        make_backend(docker_settings(tmp_path, backend="oci"))
    assert "GOSANDBOX_BACKEND=docker" in refused.value.hint


def test_the_oci_backend_refuses_a_missing_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
    with pytest.raises(BackendUnavailable, match="runsc is not installed") as refused:
        make_backend(docker_settings(tmp_path, backend="oci", runtime="runsc"))
    assert "apt-get install runsc" in refused.value.hint
    with pytest.raises(ValueError, match="runtime"):  # the settings know runc and runsc only
        docker_settings(tmp_path, backend="oci", runtime="crun")
    with pytest.raises(BackendUnavailable, match="not 'crun'"):  # and so does the backend, past them
        make_backend(docker_settings(tmp_path, backend="oci").model_copy(update={"runtime": "crun"}))

"""Runner on the FakeBackend: compile, execute, classify, decode, and the binary cache."""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.binary_cache import BinaryCache
from gosandbox.diagnostics import Diagnostic
from gosandbox.errors import SandboxFailure, UnknownToolchain
from gosandbox.limits import Limits
from gosandbox.models import RunResult, Status, Timings
from gosandbox.runner import Runner
from gosandbox.source import DEFAULT_GO_MOD, make_spec

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'


def respond(**changes: Any) -> FakeBackend:
    """A backend whose every execution ends with a clean exit changed by ``changes``."""
    outcome = replace(ExecOutcome(exit_code=0, signal=None, stdout=b"", stderr=b"", duration_s=0.25), **changes)
    return FakeBackend(execute=lambda job: outcome)


def run(backend: FakeBackend, stdin: bytes = b"") -> RunResult:
    return Runner(backend).run(make_spec({"main.go": MAIN}, stdin=stdin))


def test_ok_path() -> None:
    backend = FakeBackend()
    limits = Limits(wall_s=2.0, memory_mb=64)
    spec = make_spec({"main.go": MAIN}, stdin=b"input", args=["-v", "x"], limits=limits)
    result = Runner(backend, build_timeout_s=12.5).run(spec)

    assert result.status is Status.OK
    assert result.exit_code == 0
    assert result.signal is None
    assert result.stdout == "input"  # the fake echoes stdin
    assert result.stderr == ""
    assert result.compile_output == ""
    assert result.truncated is False
    assert result.go_version == "go0.0-fake"
    assert result.cached is False

    assert backend.builds == [BuildJob({"main.go": MAIN, "go.mod": DEFAULT_GO_MOD}, 12.5, go_version="go0.0-fake")]
    [job] = backend.executions
    assert job.binary == f"go.mod:{DEFAULT_GO_MOD}\nmain.go:{MAIN}".encode()
    assert (job.stdin, job.args, job.limits) == (b"input", ("-v", "x"), limits)
    assert not job.cancel.is_set()


def test_the_callers_cancel_event_reaches_the_backend() -> None:
    backend = FakeBackend()
    cancel = threading.Event()
    Runner(backend).run(make_spec({"main.go": MAIN}), cancel=cancel)
    assert backend.executions[0].cancel is cancel


def test_timings_come_from_the_backend() -> None:
    def build(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=True, output="", binary=b"bin", duration_s=0.4)

    def execute(job: ExecJob) -> ExecOutcome:
        return ExecOutcome(0, None, b"", b"", duration_s=1.25)

    result = Runner(FakeBackend(build=build, execute=execute)).run(make_spec({"main.go": MAIN}))
    assert result.timings_ms.compile == 400
    assert result.timings_ms.run == 1250
    assert 0 <= result.timings_ms.total < 1000  # the fake takes no real time


def test_compile_error_path() -> None:
    message = "./main.go:3:1: syntax error: non-declaration statement outside function body"

    def build(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=False, output=message, binary=None, duration_s=0.3)

    backend = FakeBackend(build=build)
    result = run(backend)
    assert result == RunResult(
        status=Status.COMPILE_ERROR,
        exit_code=None,
        signal=None,
        stdout="",
        stderr="",
        compile_output=message,
        truncated=False,
        timings_ms=Timings(compile=300, run=0, total=result.timings_ms.total),
        go_version="go0.0-fake",
        cached=False,
        diagnostics=[Diagnostic("main.go", 3, 1, "syntax error: non-declaration statement outside function body")],
        message="the program did not compile: " + message.removeprefix("./"),
    )
    assert backend.executions == []


def test_a_build_without_a_binary_is_a_compile_error() -> None:
    def build(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=True, output="odd", binary=None, duration_s=0.0)

    backend = FakeBackend(build=build)
    assert run(backend).status is Status.COMPILE_ERROR
    assert backend.executions == []


def test_build_timeout_is_a_compile_error() -> None:
    def build(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=False, output="build timed out", binary=None, duration_s=30.0)

    result = run(FakeBackend(build=build))
    assert result.status is Status.COMPILE_ERROR
    assert result.compile_output == "build timed out"


def test_timeout_outcome() -> None:
    result = run(respond(exit_code=137, signal=signal.SIGKILL, timed_out=True))
    assert result.status is Status.TIMEOUT
    assert result.exit_code == 137
    assert result.signal == "SIGKILL"
    assert result.truncated is False


def test_memory_limit_outcome() -> None:
    result = run(respond(exit_code=137, signal=signal.SIGKILL, oom_killed=True))
    assert result.status is Status.MEMORY_LIMIT
    assert result.signal == "SIGKILL"


def test_output_limit_outcome_is_truncated() -> None:
    result = run(respond(exit_code=137, signal=signal.SIGKILL, stdout=b"y\n" * 10, output_exceeded=True))
    assert result.status is Status.OUTPUT_LIMIT
    assert result.truncated is True
    assert result.stdout == "y\n" * 10


def test_runtime_error_outcome() -> None:
    result = run(respond(exit_code=2, stderr=b"panic: boom\n"))
    assert result.status is Status.RUNTIME_ERROR
    assert result.exit_code == 2
    assert result.signal is None
    assert result.stderr == "panic: boom\n"


def test_cancelled_outcome() -> None:
    assert run(respond(exit_code=None, cancelled=True)).status is Status.TIMEOUT


def test_output_is_decoded_with_replacement_and_nul_kept() -> None:
    result = run(respond(stdout=b"a\xffb\x00c\xc3", stderr=b"\x1b[31mred\x00\xfe"))
    assert result.stdout == "a\ufffdb\x00c\ufffd"
    assert result.stderr == "\x1b[31mred\x00\ufffd"


def test_valid_utf8_is_kept() -> None:
    assert run(respond(stdout="héllo, 世界 🙂\n".encode())).stdout == "héllo, 世界 🙂\n"


def test_backend_failures_propagate() -> None:
    def execute(job: ExecJob) -> ExecOutcome:
        raise SandboxFailure("the engine refused to create the sandbox")

    with pytest.raises(SandboxFailure):
        run(FakeBackend(execute=execute))


def test_binary_cache_hit_skips_the_second_build(tmp_path: Path) -> None:
    backend = FakeBackend()
    cache = BinaryCache(tmp_path, max_bytes=1 << 20, build_identity="test")
    runner = Runner(backend, cache=cache)
    spec = make_spec({"main.go": MAIN}, stdin=b"one")

    first = runner.run(spec)
    second = runner.run(make_spec({"main.go": MAIN}, stdin=b"two"))

    assert (first.cached, second.cached) == (False, True)
    assert (first.stdout, second.stdout) == ("one", "two")
    assert len(backend.builds) == 1
    assert len(backend.executions) == 2
    assert backend.executions[0].binary == backend.executions[1].binary
    assert second.timings_ms.compile == 0


def test_a_changed_source_is_built_again(tmp_path: Path) -> None:
    backend = FakeBackend()
    runner = Runner(backend, cache=BinaryCache(tmp_path, max_bytes=1 << 20, build_identity="test"))
    runner.run(make_spec({"main.go": MAIN}))
    result = runner.run(make_spec({"main.go": MAIN + "\n"}))
    assert result.cached is False
    assert len(backend.builds) == 2


def test_compile_errors_are_not_cached(tmp_path: Path) -> None:
    def build(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=False, output="error", binary=None, duration_s=0.0)

    backend = FakeBackend(build=build)
    runner = Runner(backend, cache=BinaryCache(tmp_path, max_bytes=1 << 20, build_identity="test"))
    assert runner.run(make_spec({"main.go": MAIN})).status is Status.COMPILE_ERROR
    assert runner.run(make_spec({"main.go": MAIN})).cached is False
    assert len(backend.builds) == 2
    assert list(tmp_path.glob("*.bin")) == []


def test_without_a_cache_every_run_builds() -> None:
    backend = FakeBackend()
    runner = Runner(backend)
    runner.run(make_spec({"main.go": MAIN}))
    assert runner.run(make_spec({"main.go": MAIN})).cached is False
    assert len(backend.builds) == 2


def test_an_unknown_toolchain_is_refused_before_any_build() -> None:
    backend = FakeBackend()
    spec = make_spec({"main.go": MAIN}, go_version="go9.9")
    with pytest.raises(UnknownToolchain, match=r"go0\.0-fake"):
        Runner(backend).run(spec)
    assert backend.builds == []


def test_a_named_toolchain_reaches_the_build_and_the_result() -> None:
    backend = FakeBackend()
    backend.go_versions = ["go0.0-fake", "go0.0-other"]
    result = Runner(backend).run(make_spec({"main.go": MAIN}, go_version="go0.0-other"))
    assert backend.builds[0].go_version == "go0.0-other"
    assert result.go_version == "go0.0-other"


def test_the_sandbox_s_usage_and_the_message_reach_the_result() -> None:
    backend = respond(exit_code=3, cpu_time_ms=420, peak_memory_kb=5120)
    result = Runner(backend).run(make_spec({"main.go": MAIN}, limits=Limits(wall_s=2.0)))
    assert (result.status, result.cpu_time_ms, result.peak_memory_kb) == (Status.RUNTIME_ERROR, 420, 5120)
    assert result.message == "exited with code 3"


def test_an_ok_run_has_no_message_and_unknown_usage_stays_none() -> None:
    result = run(FakeBackend())
    assert (result.status, result.message, result.cpu_time_ms, result.peak_memory_kb) == (Status.OK, None, None, None)


def test_a_timeout_message_names_the_run_s_wall_limit() -> None:
    backend = respond(exit_code=137, signal=signal.SIGKILL, timed_out=True)
    result = Runner(backend).run(make_spec({"main.go": MAIN}, limits=Limits(wall_s=2.0)))
    assert result.message == "killed after 2 s of wall time"

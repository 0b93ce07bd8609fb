"""The command-line verbs that run something: run, test, vet, fmt, each through the library."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gosandbox.backends.docker.backend import DockerBackend, config_from_settings
from gosandbox.errors import InvalidSource
from gosandbox.go_tools import format_files, run_tests, vet
from gosandbox.gotest import TestOptions
from gosandbox.limits import Limits
from gosandbox.models import Status, TestResult
from gosandbox.runner import Runner
from gosandbox.settings import Settings
from gosandbox.source import check_file_name, make_spec

# Exit codes for verdicts that have no program exit code (as timeout(1) and shells do).
_EXIT_FOR_STATUS = {Status.COMPILE_ERROR: 2, Status.TIMEOUT: 124, Status.MEMORY_LIMIT: 137, Status.OUTPUT_LIMIT: 141}
_MAX_FILE_BYTES = 1024 * 1024


def read_package(path: Path) -> dict[str, str]:
    """A .go file as main.go, or every acceptable file of a directory (hidden ones skipped)."""
    if path.is_file():
        return {"main.go": path.read_text(encoding="utf-8")}
    files = {}
    for item in sorted(path.rglob("*")):
        name = item.relative_to(path).as_posix()
        if not item.is_file() or any(part.startswith(".") for part in name.split("/")):
            continue
        try:
            check_file_name(name)
        except InvalidSource:
            continue
        if item.stat().st_size <= _MAX_FILE_BYTES:
            files[name] = item.read_text(encoding="utf-8")
    return files


@contextmanager
def local_runner(settings: Settings, limits: Limits) -> Iterator[Runner]:
    """A runner on the local engine for one command; its sandboxes are removed at the end."""
    config = config_from_settings(settings, instance=f"{settings.instance}-cli-{os.getpid()}", default_limits=limits,
                                  pool_size=0)  # fmt: skip
    backend = DockerBackend(config)
    try:
        backend.check_ready()
        backend.start()
        yield Runner(backend, build_timeout_s=settings.build_timeout_s)
    finally:
        backend.close()


@dataclass(frozen=True)
class Sizing:
    """What the command line asked for beyond the package: limit overrides and a toolchain."""

    overrides: dict[str, float | int] = field(default_factory=dict)
    go_version: str | None = None


def run_once(settings: Settings, files: dict[str, str], *, stdin: bytes, args: tuple[str, ...],
             sizing: Sizing) -> int:  # fmt: skip
    limits = settings.limits_for(sizing.overrides)
    spec = make_spec(files, stdin=stdin, args=args, limits=limits, go_version=sizing.go_version)
    with local_runner(settings, limits) as runner:
        result = runner.run(spec)
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.compile_output + result.stderr)
    code = exit_code_for(result.status, result.exit_code)
    if result.status is not Status.OK:
        killed = f", the program got {result.signal}" if result.signal else ""
        sys.stderr.write(f"gosandbox: {result.status}{killed}; exit {code}\n")
    return code


def exit_code_for(status: Status, program_exit: int | None) -> int:
    """The command's exit code: the program's own for a runtime error, else the verdict's (see --help)."""
    if program_exit is not None and status is Status.RUNTIME_ERROR:
        return program_exit
    return _EXIT_FOR_STATUS.get(status, 0)


def _print_tests(result: TestResult, verbose: bool) -> None:
    for case in result.tests:
        if verbose or case.result == "fail":
            sys.stdout.write(case.output)
        sys.stdout.write(f"--- {case.result.upper()}: {case.name} ({case.elapsed_s:.2f}s)\n")
    for bench in result.benchmarks:
        sys.stdout.write(f"{bench.name}\t{bench.iterations}\t{bench.ns_per_op} ns/op {bench.extra}\n")
    sys.stdout.write(result.output)
    sys.stderr.write(result.compile_output + result.stderr)


def go_test_once(settings: Settings, files: dict[str, str], options: TestOptions, *, verbose: bool,
                 sizing: Sizing) -> int:  # fmt: skip
    limits = settings.limits_for(sizing.overrides)
    with local_runner(settings, limits) as runner:
        result = run_tests(runner, make_spec(files, limits=limits, go_version=sizing.go_version), options)
    _print_tests(result, verbose)
    verdict = "ok" if result.passed else f"FAIL ({result.status})"
    sys.stdout.write(f"{verdict}\n")
    return 0 if result.passed else 1


def vet_once(settings: Settings, files: dict[str, str]) -> int:
    with local_runner(settings, settings.default_limits()) as runner:
        result = vet(runner, make_spec(files))
    for d in result.diagnostics:
        sys.stdout.write(
            f"{d.file}:{d.line}:{d.column}: {d.message}" + (f" ({d.analyzer})" if d.analyzer else "") + "\n"
        )
    return 0 if result.status is Status.OK and not result.diagnostics else 1


def fmt_once(settings: Settings, path: Path, files: dict[str, str], *, write: bool) -> int:
    with local_runner(settings, settings.default_limits()) as runner:
        result = format_files(runner, make_spec(files), files.keys())
    for d in result.diagnostics:
        sys.stderr.write(f"{d.file}:{d.line}:{d.column}: {d.message}\n")
    for name in result.changed:
        sys.stdout.write(f"{name}\n")
        if write and path.is_dir():
            (path / name).write_text(result.files[name], encoding="utf-8")
        elif write:
            path.write_text(result.files[name], encoding="utf-8")
    return 0 if result.ok and (write or not result.changed) else 1

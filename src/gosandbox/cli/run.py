"""The command-line verbs that run something: run, test, vet, fmt, each through the library."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from gosandbox.backends.base import BuildOutcome, Observers
from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.cli.output import LineWriter, LiveOutput, RawWriter, encoded
from gosandbox.cli.package import LocalPackage
from gosandbox.cli.testprint import TestPrinter, summary_line
from gosandbox.go_tools import format_files, run_tests, vet
from gosandbox.gotest import TestOptions, module_path
from gosandbox.limits import Limits
from gosandbox.models import Status
from gosandbox.runner import Runner
from gosandbox.settings import Settings
from gosandbox.source import make_spec
from gosandbox.wiring import config_from_settings

# Exit codes for verdicts that have no program exit code (as timeout(1) and shells do).
_EXIT_FOR_STATUS = {Status.COMPILE_ERROR: 2, Status.TIMEOUT: 124, Status.MEMORY_LIMIT: 137, Status.OUTPUT_LIMIT: 141}


def _err(text: str) -> None:
    sys.stderr.buffer.write(encoded(text))
    sys.stderr.buffer.flush()


def _out(text: str) -> None:
    sys.stdout.buffer.write(encoded(text))
    sys.stdout.buffer.flush()


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


def _live(package: LocalPackage, stdout: LineWriter | RawWriter) -> tuple[Observers, LiveOutput]:
    """Observers that print the compiler's messages, then the program's output as it is written."""
    live = LiveOutput(stdout, LineWriter(sys.stderr.buffer, package.rewrite))

    def compiled(build: BuildOutcome) -> None:
        _err(package.rewrite(build.output))

    return Observers(on_compiled=compiled, on_output=live), live


def run_once(settings: Settings, package: LocalPackage, *, stdin: bytes, args: tuple[str, ...],
             sizing: Sizing) -> int:  # fmt: skip
    """Run the package; its stdout reaches ours byte for byte, as it is written."""
    limits = settings.limits_for(sizing.overrides)
    spec = make_spec(package.files, stdin=stdin, args=args, limits=limits, go_version=sizing.go_version)
    observers, live = _live(package, RawWriter(sys.stdout.buffer))
    with local_runner(settings, limits) as runner:
        try:
            result = runner.run(spec, observers=observers)
        finally:
            live.close()
    code = exit_code_for(result.status, result.exit_code)
    if result.status is not Status.OK:
        killed = f", the program got {result.signal}" if result.signal else ""
        _err(f"gosandbox: {result.status}{killed}; exit {code}\n")
    return code


def exit_code_for(status: Status, program_exit: int | None) -> int:
    """The command's exit code: the program's own for a runtime error, else the verdict's (see --help)."""
    if program_exit is not None and status is Status.RUNTIME_ERROR:
        return program_exit
    return _EXIT_FOR_STATUS.get(status, 0)


def go_test_once(settings: Settings, package: LocalPackage, options: TestOptions, *, verbose: bool,
                 sizing: Sizing) -> int:  # fmt: skip
    """go test on the package, printed as go test prints it, then a summary line."""
    limits = settings.limits_for(sizing.overrides)
    printer = TestPrinter(verbose=verbose, rewrite=package.rewrite)
    observers, live = _live(package, LineWriter(sys.stdout.buffer, printer.line))
    with local_runner(settings, limits) as runner:
        try:
            spec = make_spec(package.files, limits=limits, go_version=sizing.go_version)
            result = run_tests(runner, spec, options, observers=observers)
        finally:
            live.close()
    label = module_path(package.files["go.mod"]) if "go.mod" in package.files else package.show(package.root.name)
    has_tests = any(name.endswith("_test.go") for name in package.files)
    _out(printer.finish() + summary_line(result, label, has_tests=has_tests))
    return 0 if result.passed else 1


def vet_once(settings: Settings, package: LocalPackage) -> int:
    """go vet findings, each at the user's path; a package that does not type-check prints why."""
    with local_runner(settings, settings.default_limits()) as runner:
        result = vet(runner, make_spec(package.files))
    if result.status is Status.COMPILE_ERROR:
        _err(package.rewrite(result.output))
        return 1
    for d in result.diagnostics:
        analyzer = f" ({d.analyzer})" if d.analyzer else ""
        _out(f"{package.show(d.file)}:{d.line}:{d.column}: {d.message}{analyzer}\n")
    return 1 if result.diagnostics else 0


def fmt_once(settings: Settings, package: LocalPackage, *, write: bool) -> int:
    """List the files gofmt would change (by the user's paths); with ``write``, rewrite them."""
    with local_runner(settings, settings.default_limits()) as runner:
        result = format_files(runner, make_spec(package.files), package.files.keys())
    for d in result.diagnostics:
        _err(f"{package.show(d.file)}:{d.line}:{d.column}: {d.message}\n")
    for name in result.changed:
        _out(f"{package.show(name)}\n")
        if write:
            package.write(name, result.files[name])
    return 0 if result.ok and (write or not result.changed) else 1

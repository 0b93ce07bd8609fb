"""The commands on this host: the backend and runtime ``gosandbox serve`` would use, assembled by
:mod:`gosandbox.wiring`, with a builder kept warm between invocations.

A command runs as the instance ``<GOSANDBOX_INSTANCE>-cli``. Its builder sandbox is left running when the
command ends, and the next command adopts it when its image and configuration are the same (else it is
replaced): a second ``gosandbox run`` skips the builder's start, and, through the binary cache in the state
directory, the build itself when the program has not changed. ``gosandbox reap`` removes the kept builder.

Starting a backend removes what its instance left, so two commands at once cannot share an instance: a lock
file in the state directory says who holds ``-cli``; a command that finds it held runs as
``<GOSANDBOX_INSTANCE>-cli-<pid>`` with a builder of its own, removed when it ends (slower, never in the way).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass

from gosandbox.backends.base import BuildOutcome, Observers
from gosandbox.backends.live import LiveStdin
from gosandbox.cli.tools import Live, Request
from gosandbox.go_tools import format_files, run_tests, vet
from gosandbox.gotest import TestOptions
from gosandbox.models import FmtResult, RunResult, RunSpec, TestResult, VetResult
from gosandbox.runner import Runner
from gosandbox.settings import Settings
from gosandbox.source import make_spec, with_race
from gosandbox.wiring import make_backend, make_runner


def cli_instance(instance: str) -> str:
    """The instance of the commands' kept builder, beside the server's own ``instance``."""
    return f"{instance}-cli"


@dataclass(frozen=True)
class Seat:
    """The instance a command runs as, and whether it keeps its builder for the next one."""

    instance: str
    keeps_builder: bool


@contextlib.contextmanager
def seat(settings: Settings) -> Iterator[Seat]:
    """The shared ``-cli`` instance while no other command holds it, else one of this process's own."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    shared = cli_instance(settings.instance)
    with open(settings.state_dir / f"{shared}.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield Seat(f"{shared}-{os.getpid()}", keeps_builder=False)
            return
        yield Seat(shared, keeps_builder=True)  # the lock goes with the file's closing, or with this process


@contextlib.contextmanager
def local_tools(settings: Settings) -> Iterator[LocalTools]:
    """:class:`LocalTools` on the backend in force; its run sandboxes are removed at the end, its builder kept."""
    with seat(settings) as taken:
        # No pool: a command runs once, a sandbox started ahead would be started for nothing.
        own = settings.model_copy(update={"instance": taken.instance, "pool_size": 0})
        backend = make_backend(own, keep_builders=taken.keeps_builder)
        try:
            backend.check_ready()
            backend.start()
            yield LocalTools(own, make_runner(own, backend))
        finally:
            backend.close()


class LocalTools:
    """:class:`~gosandbox.cli.tools.Tools` on a runner of this host, within ``settings``' limits and caps."""

    def __init__(self, settings: Settings, runner: Runner) -> None:
        self.settings, self.runner = settings, runner

    def run(self, request: Request, live: Live) -> RunResult:
        return self.runner.run(self._spec(request), observers=_observers(live, request.live))

    def test(self, request: Request, options: TestOptions, live: Live) -> TestResult:
        return run_tests(self.runner, self._spec(request), options, observers=_observers(live))

    def vet(self, request: Request) -> VetResult:
        return vet(self.runner, make_spec(request.files))

    def fmt(self, request: Request) -> FmtResult:
        return format_files(self.runner, make_spec(request.files), request.files.keys())

    def _spec(self, request: Request) -> RunSpec:
        limits = self.settings.limits_for(request.limits)
        spec = make_spec(request.files, stdin=request.stdin, args=request.args, limits=limits,
                         go_version=request.go_version)  # fmt: skip
        return with_race(spec, request.race)


def _observers(live: Live, stdin: LiveStdin | None = None) -> Observers:
    def compiled(build: BuildOutcome) -> None:
        live.compiled(build.output)

    return Observers(on_compiled=compiled, on_output=live.output, live=stdin)

"""The one library call every edge shares: compile a RunSpec, run it once, return a RunResult."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import replace

from gosandbox.backends.base import Backend, BuildJob, BuildOutcome, ExecJob, ExecOutcome, Observers
from gosandbox.binary_cache import BinaryCache
from gosandbox.diagnostics import parse_positions
from gosandbox.errors import UnknownToolchain
from gosandbox.limits import Limits
from gosandbox.logs import log_context
from gosandbox.models import RunResult, RunSpec, Status, Timings
from gosandbox.race import RACE_EXIT_CODE, Race, parse_races, race_message
from gosandbox.single_flight import SingleFlight
from gosandbox.verdict import classify, explain, signal_name

logger = logging.getLogger(__name__)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def toolchain_of(backend: Backend, spec: RunSpec) -> str:
    """The Go version a spec builds with; an unknown one is refused before any sandbox starts."""
    if spec.go_version is None:
        return backend.go_version
    if spec.go_version not in backend.go_versions:
        offered = ", ".join(backend.go_versions)
        raise UnknownToolchain(f"go_version {spec.go_version[:40]!r} is not installed here; choose one of: {offered}")
    return spec.go_version


def text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _message(status: Status, spec: RunSpec, outcome: ExecOutcome, races: list[Race] | None) -> str | None:
    """The verdict's sentence; a program that ended with Go's race exit code after reporting races: "data race: ..."."""
    if races and status is Status.RUNTIME_ERROR and outcome.exit_code == RACE_EXIT_CODE and outcome.signal is None:
        return race_message(races, spec.files)
    return explain(status, spec.limits, outcome)


class Runner:
    """Compile then execute, each in its own sandbox.

    >>> from gosandbox.backends import FakeBackend
    >>> from gosandbox.source import make_spec
    >>> Runner(FakeBackend()).run(make_spec({"main.go": "package main"}, stdin=b"hi")).stdout
    'hi'
    """

    def __init__(self, backend: Backend, *, build_timeout_s: float = 30.0, cache: BinaryCache | None = None) -> None:
        self.backend = backend
        self.build_timeout_s = build_timeout_s
        self.cache = cache
        self._builds: SingleFlight[tuple[BuildOutcome, bool]] = SingleFlight()

    def run(
        self,
        spec: RunSpec,
        *,
        cancel: threading.Event | None = None,
        observers: Observers | None = None,
        tenant: str = "",
    ) -> RunResult:
        """Compile, then run once; ``observers`` see the run as it happens (and feed its stdin, when live).

        ``tenant`` (an API key's name, "" the keyless tenant): whose build, so that no tenant's build is served
        from another's caches (issue 24).
        """
        run_id = uuid.uuid4().hex[:12]
        with log_context(run_id=run_id):
            return self._run(spec, run_id, cancel, observers, tenant)

    def _run(
        self, spec: RunSpec, run_id: str, cancel: threading.Event | None, observers: Observers | None, tenant: str
    ) -> RunResult:
        started = time.monotonic()
        version = toolchain_of(self.backend, spec)
        build, cached = self._compile(spec, version, tenant)
        observers = observers or Observers()
        if observers.on_compiled is not None:
            observers.on_compiled(build)
        if not build.succeeded or build.binary is None:
            logger.info("run %s: compile_error", run_id)
            return self._compile_error(build, started, version)
        cancel = cancel or threading.Event()
        job = ExecJob(build.binary, spec.stdin, spec.args, spec.limits, cancel, on_output=observers.on_output,
                      live=observers.live)  # fmt: skip
        outcome = self.backend.execute(job)
        status = classify(outcome)
        races = parse_races(text(outcome.stderr), spec.files) if spec.race else None
        verdict = "cancelled" if outcome.cancelled else status  # the job ends cancelled, not timed out
        logger.info("run %s: %s exit=%s in %.3f s", run_id, verdict, outcome.exit_code, time.monotonic() - started)
        return RunResult(
            status=status,
            exit_code=outcome.exit_code,
            signal=signal_name(outcome.signal),
            stdout=text(outcome.stdout),
            stderr=text(outcome.stderr),
            compile_output=build.output,
            truncated=outcome.output_exceeded,
            timings_ms=Timings(ms(build.duration_s), ms(outcome.duration_s), ms(time.monotonic() - started)),
            go_version=version,
            cached=cached,
            cpu_time_ms=outcome.cpu_time_ms,
            peak_memory_kb=outcome.peak_memory_kb,
            message=_message(status, spec, outcome, races),
            races=races,
        )

    def compile(self, spec: RunSpec, *, tenant: str = "") -> tuple[BuildOutcome, bool, str]:
        """Build once, through the binary cache: the build, whether it came from the cache, the toolchain."""
        version = toolchain_of(self.backend, spec)
        build, cached = self._compile(spec, version, tenant)
        return build, cached, version

    def _compile(self, spec: RunSpec, version: str, tenant: str) -> tuple[BuildOutcome, bool]:
        """The build, and whether its binary came from the cache or from an identical build in flight.

        With a cache, builds go one per key at a time: a job whose source is being built already waits for that
        build and takes its binary, or its compile error (a batch of one source compiles once).
        """
        job = BuildJob(spec.files, self.build_timeout_s, go_version=version, race=spec.race, tenant=tenant)
        cache = self.cache
        if cache is None:
            return self.backend.build(job), False
        key = cache.key(spec.files, version, race=spec.race, tenant=tenant)
        (build, cached), shared = self._builds.do(key, lambda: self._cached_build(cache, job, key))
        if shared and build.succeeded:  # another job's build: served as a cache hit is
            return replace(build, output="", duration_s=0.0), True
        return build, cached

    def _cached_build(self, cache: BinaryCache, job: BuildJob, key: str) -> tuple[BuildOutcome, bool]:
        binary = cache.get(key)
        if binary is not None:
            return BuildOutcome(succeeded=True, output="", binary=binary, duration_s=0.0), True
        build = self.backend.build(job)
        if build.succeeded and build.binary is not None:
            cache.put(key, build.binary)
        return build, False

    def _compile_error(self, build: BuildOutcome, started: float, version: str) -> RunResult:
        return RunResult(
            status=Status.COMPILE_ERROR,
            exit_code=None,
            signal=None,
            stdout="",
            stderr="",
            compile_output=build.output,
            truncated=False,
            timings_ms=Timings(ms(build.duration_s), 0, ms(time.monotonic() - started)),
            go_version=version,
            diagnostics=parse_positions(build.output),
            message=explain(Status.COMPILE_ERROR, Limits(), compile_output=build.output),
        )

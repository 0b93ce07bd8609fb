"""Go beyond ``go run``: ``go test`` with per-test results; ``go vet``, ``gofmt``, the compiler's decisions as data."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import replace

from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, Observers
from gosandbox.diagnostics import parse_positions, parse_vet_json
from gosandbox.explain import ExplainOptions, ExplainResult, compile_errors, read_report
from gosandbox.gotest import TestOptions, module_path, parse_test_output, with_writable_dir
from gosandbox.models import FmtResult, RunSpec, Status, TestResult, Timings, VetResult
from gosandbox.race import parse_races
from gosandbox.runner import Runner, ms, text, toolchain_of
from gosandbox.toolchain import Tool
from gosandbox.verdict import classify


def run_tests(  # noqa: PLR0913 - the owner's name goes along
    runner: Runner,
    spec: RunSpec,
    options: TestOptions,
    cancel: threading.Event | None = None,
    observers: Observers | None = None,
    *,
    tenant: str = "",
) -> TestResult:
    """Compile the package's tests in the builder, run the test binary once in a fresh sandbox.

    ``tenant`` (the owner's API key name, "" keyless): its packages are compiled apart from other tenants'."""
    started = time.monotonic()
    version = toolchain_of(runner.backend, spec)
    build = _build_tests(runner, spec, options, version, tenant)
    observers = observers or Observers()
    if observers.on_compiled is not None:
        observers.on_compiled(build)
    if not build.succeeded or build.binary is None:  # a compile error, or a package without tests
        return TestResult(
            status=Status.COMPILE_ERROR if not build.succeeded else Status.OK,
            passed=build.succeeded,
            tests=[],
            benchmarks=[],
            coverage_percent=None,
            output="",
            stderr="",
            compile_output=build.output,
            diagnostics=parse_positions(build.output),
            truncated=False,
            timings_ms=Timings(ms(build.duration_s), 0, ms(time.monotonic() - started)),
            go_version=version,
        )
    # -test.timeout fires a little before the wall limit so Go names the test that hung.
    args = options.binary_args(round(spec.limits.wall_s * 0.9, 2))
    cancel = cancel or threading.Event()
    run_job = ExecJob(build.binary, spec.stdin, tuple(args), spec.limits, cancel, spec.files, observers.on_output)
    outcome = runner.backend.execute(run_job)
    report = parse_test_output(text(outcome.stdout), module_path(spec.files.get("go.mod", "")))
    status = classify(outcome)
    races = parse_races(text(outcome.stderr), spec.files, tests=True) if spec.race else None
    timings = Timings(ms(build.duration_s), ms(outcome.duration_s), ms(time.monotonic() - started))
    return TestResult(
        status=status,
        passed=status is Status.OK and report.passed is not False,
        tests=report.tests,
        benchmarks=report.benchmarks,
        coverage_percent=report.coverage_percent,
        output=report.output,
        stderr=text(outcome.stderr),
        compile_output=build.output,
        diagnostics=[],
        truncated=outcome.output_exceeded,
        timings_ms=timings,
        go_version=version,
        races=races,
    )


def _build_tests(runner: Runner, spec: RunSpec, options: TestOptions, version: str, tenant: str) -> BuildOutcome:
    """The test binary. Coverage instrumentation moves columns: a failed cover build is compiled
    again without it, so its messages point where the source says (only failures pay for this).
    """
    files = with_writable_dir(spec.files)  # its tests may write into their package directory, as on a workstation
    job = BuildJob(files, runner.build_timeout_s, Tool.TEST, cover=options.cover, fuzz=options.fuzz,
                   go_version=version, race=spec.race, tenant=tenant)  # fmt: skip
    build = runner.backend.build(job)
    if build.succeeded or not options.cover:
        return build
    plain = runner.backend.build(replace(job, cover=False))
    return replace(build, output=plain.output) if not plain.succeeded else build


def vet(runner: Runner, spec: RunSpec) -> VetResult:
    """``go vet`` findings with their analyzer; type errors come back as compile_error positions."""
    started = time.monotonic()
    version = toolchain_of(runner.backend, spec)
    build = runner.backend.build(BuildJob(spec.files, runner.build_timeout_s, Tool.VET, go_version=version))
    findings = parse_vet_json(build.output)
    type_checked = build.succeeded or bool(findings)
    status = Status.OK if type_checked else Status.COMPILE_ERROR
    diagnostics = findings if type_checked else parse_positions(build.output)
    timings = Timings(ms(build.duration_s), 0, ms(time.monotonic() - started))
    return VetResult(status, diagnostics, build.output, timings, version)


def format_files(runner: Runner, spec: RunSpec, sent: Collection[str]) -> FmtResult:
    """gofmt every .go file and normalise go.mod; return only the files the caller sent."""
    version = toolchain_of(runner.backend, spec)
    build = runner.backend.build(BuildJob(spec.files, runner.build_timeout_s, Tool.FMT, go_version=version))
    formatted = build.files or {}
    files = {name: formatted.get(name, spec.files[name]) for name in sorted(sent)}
    changed = [name for name, content in files.items() if content != spec.files[name]]
    diagnostics = parse_positions(build.output)
    return FmtResult(build.succeeded, files, changed, diagnostics, build.output, version)


def explain(runner: Runner, spec: RunSpec, options: ExplainOptions) -> ExplainResult:
    """The compiler's decisions about the package (and its assembly), from one compile in the builder.

    Nothing runs, and nothing is kept: the binary cache never sees this build (it makes no binary), and its
    flags keep its compile apart from every other build's in the build cache (see ``Tool.EXPLAIN``).
    """
    started = time.monotonic()
    version = toolchain_of(runner.backend, spec)
    job = BuildJob(spec.files, runner.build_timeout_s, Tool.EXPLAIN, go_version=version, assembly=options.assembly)
    build = runner.backend.build(job)
    timings = Timings(ms(build.duration_s), 0, ms(time.monotonic() - started))
    if not build.succeeded:
        output, diagnostics = compile_errors(build.output)
        return ExplainResult(Status.COMPILE_ERROR, [], [], diagnostics, output, False, timings, version)
    report = read_report(spec.files, build.output, build.files or {}, options)
    return ExplainResult(Status.OK, report.decisions, report.assembly, [], "", report.truncated, timings, version)

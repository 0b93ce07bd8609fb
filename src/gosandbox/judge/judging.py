"""Judge a program: one build (and one of its checker), then every case, each run afresh.

One at a time (the default), the program's runs are a series where the backend has one: one sandbox serves
many cases, each a new process with its own limits and accounting, in a sandbox emptied after the one before
(``backends/oci/series.py``); elsewhere each case starts a sandbox. With ``parallel`` above 1 the cases run
that many at a time, each in a sandbox of its own, in order: a case starts only after every earlier one
started. Either way, with ``stop_on_first_failure`` the cases after the first failing one are not started
once it is known, and are reported ``skipped`` however far the others got (DOMjudge's lazy judging).
``on_case`` hears of each case as it ends (its index and result).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from gosandbox.backends.base import BuildOutcome, execute_each
from gosandbox.diagnostics import parse_positions
from gosandbox.judge.cases import CaseRunner, skipped
from gosandbox.judge.feedback import with_relay
from gosandbox.judge.task import Build, CaseResult, JudgeResult, JudgeTask
from gosandbox.judge.verdicts import Verdict, lazily, overall
from gosandbox.models import RunSpec
from gosandbox.runner import Runner, ms

CaseHeard = Callable[[int, CaseResult], None]
Compiled = Callable[[BuildOutcome], None]
#: Cases running at once by default (see the benchmark, ``python -m gosandbox.bench --judge``).
DEFAULT_PARALLEL = 1


@dataclass(frozen=True)
class Watchers:
    """Who hears of a judging as it goes: its program's build (may raise to stop it there), each case's end."""

    on_compiled: Compiled | None = None
    on_case: CaseHeard | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


def judge(runner: Runner, task: JudgeTask, watchers: Watchers | None = None,
          parallel: int = DEFAULT_PARALLEL, *, tenant: str = "") -> JudgeResult:  # fmt: skip
    """Build the program (and the checker), run its cases, and give the verdicts.

    ``tenant`` (the owner's API key name, "" keyless): both builds are cached for that tenant only."""
    started = time.monotonic()
    watchers = watchers or Watchers()
    program, program_cached, version = runner.compile(task.program, tenant=tenant)
    if watchers.on_compiled is not None:
        watchers.on_compiled(program)
    ended = _Ending(task, _build_of(program, program_cached), version, started)
    if not program.succeeded or program.binary is None:
        return ended.before_cases(Verdict.COMPILE_ERROR)
    checker_binary: bytes | None = None
    if task.checker is not None:
        relayed = RunSpec(with_relay(task.checker.files), go_version=task.program.go_version)
        checker, checker_cached, _ = runner.compile(relayed, tenant=tenant)
        ended.checker, checker_binary = _build_of(checker, checker_cached), checker.binary
        if not checker.succeeded or checker_binary is None:
            return ended.before_cases(Verdict.CHECKER_ERROR)
    cases = CaseRunner(runner.backend, task, program.binary, checker_binary, watchers.cancel)
    return ended.after(_run_cases(cases, watchers.on_case, max(1, parallel)))


def _run_cases(runner: CaseRunner, on_case: CaseHeard | None, parallel: int) -> list[CaseResult]:
    task, failed = runner.task, threading.Event()  # with lazy judging: a case failed, start no more

    def one(index: int) -> CaseResult:
        case = task.cases[index]
        if runner.cancel.is_set() or (task.stop_on_first_failure and failed.is_set()):
            return skipped(case)
        result = runner.run(case)
        if result.status != Verdict.ACCEPTED:
            failed.set()
        if on_case is not None:
            on_case(index, result)
        return result

    if parallel == 1 and not runner.interactive:
        return _run_in_series(runner, on_case)
    if parallel == 1:
        return [one(index) for index in range(len(task.cases))]
    with ThreadPoolExecutor(max_workers=min(parallel, len(task.cases)), thread_name_prefix="judge-case") as pool:
        return list(pool.map(one, range(len(task.cases))))


def _run_in_series(runner: CaseRunner, on_case: CaseHeard | None) -> list[CaseResult]:
    """The cases one after another, the program's runs in a series where the backend has one (base.execute_each)."""
    task, results, failed = runner.task, list[CaseResult](), False
    runs = execute_each(runner.backend, [runner.job(case) for case in task.cases])
    try:
        for index, case in enumerate(task.cases):
            if runner.cancel.is_set() or (task.stop_on_first_failure and failed):
                results += [skipped(rest) for rest in task.cases[index:]]
                break
            result = runner.judged(case, next(runs))
            failed = failed or result.status != Verdict.ACCEPTED
            results.append(result)
            if on_case is not None:
                on_case(index, result)
    finally:
        runs.close()  # a series' sandbox ends with it
    return results


def _build_of(outcome: BuildOutcome, cached: bool) -> Build:
    diagnostics = parse_positions(outcome.output) if not outcome.succeeded else []
    return Build(outcome.succeeded, outcome.output, diagnostics, ms(outcome.duration_s), cached)


@dataclass
class _Ending:
    """What every answer holds: the task, the builds, the toolchain, and when the judging started."""

    task: JudgeTask
    build: Build
    version: str
    started: float
    checker: Build | None = None

    def before_cases(self, verdict: Verdict) -> JudgeResult:
        """No case ran: the program (or the checker) did not build; every case is skipped."""
        return self._result(verdict, [skipped(case) for case in self.task.cases], 0)

    def after(self, results: list[CaseResult]) -> JudgeResult:
        verdicts = lazily([Verdict(r.status) for r in results], self.task.stop_on_first_failure)
        shown = [
            result if verdict is not Verdict.SKIPPED else skipped(case)
            for result, verdict, case in zip(results, verdicts, self.task.cases, strict=True)
        ]
        return self._result(overall(verdicts), shown, sum(v is Verdict.ACCEPTED for v in verdicts))

    def _result(self, verdict: Verdict, cases: list[CaseResult], passed: int) -> JudgeResult:
        compile_ms = self.build.duration_ms + (self.checker.duration_ms if self.checker else 0)
        total = ms(time.monotonic() - self.started)
        timings = {"compile": compile_ms, "run": max(0, total - compile_ms), "total": total}
        return JudgeResult(verdict.value, self.build, cases, self.version, self.checker, passed, timings)

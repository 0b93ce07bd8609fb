"""``gosandbox test`` prints what ``go test`` would, as the test binary writes it.

The binary runs with ``-test.v=test2json`` (see gotest.py): its framing lines (byte 0x16) say
which test each line belongs to. With ``-v`` every line is printed in order, frames unmarked.
Without it, as ``go test`` does: a failed test's log lines under its ``--- FAIL``, subtests
nested, passing tests' logs dropped, and everything outside a test (the goos/goarch/cpu header,
benchmark rows, coverage, the program's own prints) where it happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gosandbox.gotest import EVENT, FRAME, RESULT, unmarked
from gosandbox.models import Status, TestResult

_INDENT = "    "


@dataclass(frozen=True)
class _Subtest:
    name: str


class TestPrinter:
    """Turns the binary's stdout lines (each with its newline) into the lines to print."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, verbose: bool, rewrite: Callable[[str], str]) -> None:
        self.verbose = verbose
        self.rewrite = rewrite
        self.current: str | None = None
        self.logs: dict[str, list[str | _Subtest]] = {}  # a running test's log lines and subtests, in order
        self.results: dict[str, str] = {}  # a finished test's "--- FAIL: ..." line
        self.ended = False  # the binary said PASS or FAIL: every test finished

    def line(self, raw: str) -> str:
        text = unmarked(raw)
        if text.startswith(FRAME):
            return self._frame(text[1:])
        return self._output(self.rewrite(text))

    def finish(self) -> str:
        """What is left at the end: tests that never finished (the binary died in them)."""
        shown = self._bench_logs()
        unfinished = [name for name in self.logs if "/" not in name and name not in self.results]
        if self.verbose or self.ended:
            return shown
        for name in unfinished:
            self.results[name] = f"--- FAIL: {name} (did not finish)\n"
        return shown + "".join(self._render(name, 0) for name in unfinished)

    def _frame(self, text: str) -> str:
        body = text.rstrip("\n")
        if event := EVENT.match(body):
            shown = self._bench_logs()
            self.current = event.group(2).strip() or None
            if event.group(1) == "RUN" and self.current:
                self._started(self.current)
            return shown + (text if self.verbose and self.current else "")
        if result := RESULT.match(body):
            return self._finished(result.group(2), result.group(1), text)
        if body.strip() in ("PASS", "FAIL"):
            self.ended = True
            return text if self.verbose or body.strip() == "FAIL" else ""
        return self._output(text)

    def _bench_logs(self) -> str:
        """A benchmark's log lines, under its rows (as go test prints them)."""
        name = self.current
        if self.verbose or name is None or not name.startswith("Benchmark") or not self.logs.get(name):
            return ""
        shown = f"--- BENCH: {name}\n" + "".join(entry for entry in self.logs[name] if isinstance(entry, str))
        self.logs[name] = []
        return shown

    def _started(self, name: str) -> None:
        self.logs[name] = []
        parent = name.rpartition("/")[0]
        if parent in self.logs:
            self.logs[parent].append(_Subtest(name))

    def _finished(self, name: str, verdict: str, line: str) -> str:
        self.results[name] = line.lstrip(" ")
        if self.verbose:
            return line
        if "/" in name:
            return ""  # printed with its parent
        shown = self._render(name, 0) if verdict == "FAIL" else ""
        for key in [key for key in self.logs if key == name or key.startswith(f"{name}/")]:
            del self.logs[key]
        return shown

    def _render(self, name: str, depth: int) -> str:
        pad = _INDENT * depth
        shown = pad + self.results[name]
        for entry in self.logs.get(name, []):
            if not isinstance(entry, _Subtest):
                shown += pad + entry
            elif self.results.get(entry.name, "").startswith("--- FAIL"):
                shown += self._render(entry.name, depth + 1)
        return shown

    def _output(self, text: str) -> str:
        current = self.current
        if self.verbose or current is None or current not in self.logs:
            return text
        if current.startswith("Benchmark") and text.strip() == current:
            return ""  # the bare name line is for -v
        if text.startswith(_INDENT):  # t.Log and t.Error lines belong to their test
            self.logs[current].append(text)
            return ""
        return text  # the test's own prints reach stdout at once, as in go test


def summary_line(result: TestResult, label: str, *, has_tests: bool) -> str:
    """The last line: ok or FAIL, the package, and how many tests passed, failed and were skipped."""
    if not has_tests:
        return f"?   \t{label}\t[no test files]\n"
    if result.status is Status.COMPILE_ERROR:
        return f"FAIL\t{label}\t[build failed]\n"
    tests = [case for case in result.tests if not case.name.startswith("Benchmark")]
    passed = sum(case.result == "pass" for case in tests)
    skipped = sum(case.result == "skip" for case in tests)
    counts = f"{passed} passed, {len(tests) - passed - skipped} failed, {skipped} skipped"
    if result.coverage_percent is not None:
        counts += f"; coverage {result.coverage_percent}% of statements"
    if result.status not in (Status.OK, Status.RUNTIME_ERROR):  # a failing test is a runtime error
        counts += f"; {result.status}"
    return f"{'ok  ' if result.passed else 'FAIL'}\t{label}\t{counts}\n"

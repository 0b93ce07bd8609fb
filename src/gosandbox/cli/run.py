"""The command-line verbs that run something: run, test, vet, fmt, printed the same wherever they run.

Each takes :class:`~gosandbox.cli.tools.Tools` (this host's backend, or a server) and prints as it
goes: the compiler's messages and positions at the user's own paths, the program's stdout byte for byte.
"""

from __future__ import annotations

import sys

from gosandbox.cli.exits import exit_code_for
from gosandbox.cli.interactive import read_terminal, run_attached
from gosandbox.cli.output import LineWriter, LiveOutput, RawWriter, encoded
from gosandbox.cli.package import LocalPackage
from gosandbox.cli.testprint import TestPrinter, summary_line
from gosandbox.cli.tools import Live, Request, Tools
from gosandbox.gotest import TestOptions, module_path
from gosandbox.models import RunResult, Status


def _err(text: str) -> None:
    sys.stderr.buffer.write(encoded(text))
    sys.stderr.buffer.flush()


def _out(text: str) -> None:
    sys.stdout.buffer.write(encoded(text))
    sys.stdout.buffer.flush()


def _live(package: LocalPackage, stdout: LineWriter | RawWriter) -> tuple[Live, LiveOutput]:
    """What prints the compiler's messages, then the program's output as it is written (close the second)."""
    sink = LiveOutput(stdout, LineWriter(sys.stderr.buffer, package.rewrite))
    return Live(compiled=lambda output: _err(package.rewrite(output)), output=sink), sink


def run_once(tools: Tools, package: LocalPackage, request: Request) -> int:
    """Run the package; its stdout reaches ours byte for byte, as it is written (interactive: our stdin reaches
    it as it is typed, see :mod:`gosandbox.cli.interactive`)."""
    live, sink = _live(package, RawWriter(sys.stdout.buffer))
    try:
        if request.live is None:
            result = tools.run(request, live)
        else:
            read_terminal(request.live, sys.stdin.buffer)
            result = run_attached(lambda: tools.run(request, live), request.live)
    finally:
        sink.close()
    code = exit_code_for(result.status, result.exit_code)
    if result.status is not Status.OK:
        killed = f", the program got {result.signal}" if result.signal else ""
        _err(f"gosandbox: {result.status}{killed}; exit {code}{_usage(result)}\n")
    return code


def _usage(result: RunResult) -> str:
    """What the program used, as the verdict line says it: "; 12 ms CPU, 1936 KiB peak memory"."""
    figures = []
    if result.cpu_time_ms is not None:
        figures.append(f"{result.cpu_time_ms} ms CPU")
    if result.peak_memory_kb is not None:
        figures.append(f"{result.peak_memory_kb} KiB peak memory")
    return "; " + ", ".join(figures) if figures else ""


def go_test_once(tools: Tools, package: LocalPackage, request: Request, options: TestOptions, *,
                 verbose: bool) -> int:  # fmt: skip
    """go test on the package, printed as go test prints it, then a summary line."""
    printer = TestPrinter(verbose=verbose, rewrite=package.rewrite)
    live, sink = _live(package, LineWriter(sys.stdout.buffer, printer.line))
    try:
        result = tools.test(request, options, live)
    finally:
        sink.close()
    label = module_path(package.files["go.mod"]) if "go.mod" in package.files else package.show(package.root.name)
    has_tests = any(name.endswith("_test.go") for name in package.files)
    _out(printer.finish() + summary_line(result, label, has_tests=has_tests))
    return 0 if result.passed else 1


def vet_once(tools: Tools, package: LocalPackage) -> int:
    """go vet findings, each at the user's path; a package that does not type-check prints why."""
    result = tools.vet(Request(package.files))
    if result.status is Status.COMPILE_ERROR:
        _err(package.rewrite(result.output))
        return 1
    for d in result.diagnostics:
        analyzer = f" ({d.analyzer})" if d.analyzer else ""
        _out(f"{package.show(d.file)}:{d.line}:{d.column}: {d.message}{analyzer}\n")
    return 1 if result.diagnostics else 0


def fmt_once(tools: Tools, package: LocalPackage, *, write: bool) -> int:
    """List the files gofmt would change (by the user's paths); with ``write``, rewrite them."""
    result = tools.fmt(Request(package.files))
    for d in result.diagnostics:
        _err(f"{package.show(d.file)}:{d.line}:{d.column}: {d.message}\n")
    for name in result.changed:
        _out(f"{package.show(name)}\n")
        if write:
            package.write(name, result.files[name])
    return 0 if result.ok and (write or not result.changed) else 1

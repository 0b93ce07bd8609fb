"""``go test`` in two steps: the builder compiles a test binary, a run sandbox executes it.

The binary runs with ``-test.v=test2json``: framing lines start with byte 0x16, so test
events are told apart from the tests' own output exactly, as Go's test2json does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gosandbox.errors import InvalidRequest

#: The test binary's framing (see the module's docstring): a frame line starts with FRAME; an
#: error's text (t.Error) is wrapped in ERR_START ... ERR_END.
FRAME, ERR_START, ERR_END = "\x16", "\x0f", "\x0e"
EVENT = re.compile(r"^=== (RUN|PAUSE|CONT|NAME)\s*(.*)$")
RESULT = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \((\d{1,18}(?:\.\d{1,18})?)s\)$")
_BENCH = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d{1,18})\s+(\d{1,18}(?:\.\d{1,18})?) ns/op(.*)$")
_COVERAGE = re.compile(r"^coverage: (\d{1,3}(?:\.\d{1,18})?)% of statements")
_SAFE_PATTERN = re.compile(r"^[\x20-\x7e]{0,200}$")
_SAFE_DURATION = re.compile(r"^\d{1,6}(x|ns|us|ms|s|m)?$")


@dataclass(frozen=True)
class TestOptions:
    """What ``go test`` flags a request may set. Durations are bounded by the run's wall limit."""

    __test__ = False  # not a pytest test class

    run: str | None = None
    count: int = 1
    cover: bool = False
    bench: str | None = None
    benchtime: str = "1s"
    fuzz: str | None = None
    fuzztime: str = "5s"
    short: bool = False

    def __post_init__(self) -> None:
        self._check()  # a TestOptions that exists is a valid one: callers never re-check

    def _check(self) -> None:
        for name in ("run", "bench", "fuzz"):
            value = getattr(self, name)
            if value is not None and not _SAFE_PATTERN.match(value):
                raise InvalidRequest(f"{name} must be a printable regular expression of at most 200 characters")
        for name in ("benchtime", "fuzztime"):
            if not _SAFE_DURATION.match(getattr(self, name)):
                raise InvalidRequest(f"{name} must look like 100x, 500ms or 2s")
        if not 1 <= self.count <= 100:
            raise InvalidRequest("count must be between 1 and 100")

    def binary_args(self, wall_s: float) -> list[str]:
        """Arguments of the test binary (the flags ``go test`` would pass it)."""
        args = ["-test.v=test2json", f"-test.count={self.count}", "-test.paniconexit0", f"-test.timeout={wall_s}s"]
        args += [f"-test.run={self.run}"] if self.run is not None else []
        args += ["-test.short"] if self.short else []
        if self.bench is not None:
            args += [f"-test.bench={self.bench}", f"-test.benchtime={self.benchtime}"]
        if self.fuzz is not None:
            args += [f"-test.fuzz={self.fuzz}", f"-test.fuzztime={self.fuzztime}", "-test.fuzzcachedir=/tmp/fuzz"]
        return args


@dataclass
class TestCase:
    __test__ = False  # not a pytest test class

    name: str
    package: str = ""  # import path of the package under test
    result: str = "running"  # pass, fail, skip; "running" if the binary died inside it
    elapsed_s: float = 0.0
    output: str = ""


@dataclass(frozen=True)
class Benchmark:
    name: str
    iterations: int
    ns_per_op: float
    extra: str


@dataclass
class TestReport:
    """What the test binary said, parsed."""

    __test__ = False  # not a pytest test class

    tests: list[TestCase] = field(default_factory=list)
    benchmarks: list[Benchmark] = field(default_factory=list)
    coverage_percent: float | None = None
    passed: bool | None = None
    output: str = ""  # lines of no test (package-level output)


def unmarked(line: str) -> str:
    """A line without the error markers."""
    return line.replace(ERR_START, "").replace(ERR_END, "")


class _Parser:
    def __init__(self) -> None:
        self.report = TestReport()
        self.cases: dict[str, TestCase] = {}
        self.current: str | None = None

    def feed(self, line: str) -> None:
        if line.startswith(FRAME):
            self._frame(line[1:])
        else:
            self._output(unmarked(line))

    def _case(self, name: str) -> TestCase:
        if name not in self.cases:
            self.cases[name] = TestCase(name)
            self.report.tests.append(self.cases[name])
        return self.cases[name]

    def _frame(self, line: str) -> None:
        if event := EVENT.match(line):
            self.current = event.group(2).strip() or None
            if event.group(1) == "RUN" and self.current:
                self._case(self.current)
        elif result := RESULT.match(line):
            case = self._case(result.group(2))
            case.result, case.elapsed_s = result.group(1).lower(), float(result.group(3))
        elif line.strip() in ("PASS", "FAIL"):
            self.report.passed = line.strip() == "PASS"
        else:
            self._output(line)

    def _output(self, line: str) -> None:
        if bench := _BENCH.match(line.strip()):
            name, n, ns, extra = bench.groups()
            self.report.benchmarks.append(Benchmark(name, int(n), float(ns), extra.strip()))
        if coverage := _COVERAGE.match(line):
            self.report.coverage_percent = float(coverage.group(1))
        if self.current is not None:
            self._case(self.current).output += line + "\n"
        else:
            self.report.output += line + "\n"


def parse_test_output(stdout: str, package: str = "") -> TestReport:
    """Parse the stdout of a test binary run with ``-test.v=test2json``; ``package`` names its tests' package."""
    parser = _Parser()
    for line in stdout.splitlines():
        parser.feed(line)
    for case in parser.report.tests:
        case.package = package
        if case.result == "running" and parser.report.passed:
            case.result = "pass"  # a passing benchmark gets no "--- PASS" line
    return parser.report


def module_path(go_mod: str) -> str:
    """The ``module`` line of a go.mod (the import path of the package at its root)."""
    for line in go_mod.splitlines():
        words = line.split("//", 1)[0].split()
        if len(words) == 2 and words[0] == "module":
            return words[1].strip('"`')
    return ""


#: The file added to a package's test build: its tests run in a writable copy of their package directory.
WRITABLE_DIR_FILE = "zz_gosandbox_writable_dir_test.go"
#: Where that copy is made, on the sandbox's own /tmp (within its tmpfs size, gone with it).
WRITABLE_DIR = "/tmp/gosandbox-pkg"
_PACKAGE_CLAUSE = re.compile(r"^package\s+(\w+)", re.MULTILINE)
_WRITABLE_DIR_SOURCE = """// Added by gosandbox: the tests run in a writable copy of their package directory
// (on the sandbox's /tmp), as go test on a workstation lets them write there.
package {package}

import (
	gosandboxFS "io/fs"
	gosandboxOS "os"
	gosandboxPath "path/filepath"
)

func init() {{
	from, err := gosandboxOS.Getwd()
	if err != nil || from != "/sandbox/pkg" {{
		return
	}}
	err = gosandboxPath.WalkDir(from, func(path string, entry gosandboxFS.DirEntry, err error) error {{
		if err != nil {{
			return err
		}}
		relative, err := gosandboxPath.Rel(from, path)
		if err != nil {{
			return err
		}}
		target := gosandboxPath.Join("{to}", relative)
		if entry.IsDir() {{
			return gosandboxOS.MkdirAll(target, 0o755)
		}}
		data, err := gosandboxOS.ReadFile(path)
		if err != nil {{
			return err
		}}
		return gosandboxOS.WriteFile(target, data, 0o644)
	}})
	if err == nil {{
		_ = gosandboxOS.Chdir("{to}")
	}}
}}
"""


def with_writable_dir(files: dict[str, str]) -> dict[str, str]:
    """The package with :data:`WRITABLE_DIR_FILE` added (in its own package clause's package), so that its tests
    run in a writable copy of the package directory; as sent when no package clause is found at its root."""
    roots = sorted((name.endswith("_test.go"), name) for name in files if "/" not in name and name.endswith(".go"))
    for _, name in roots:
        clause = _PACKAGE_CLAUSE.search(files[name])
        if clause is not None:
            package = clause.group(1).removesuffix("_test")
            return {**files, WRITABLE_DIR_FILE: _WRITABLE_DIR_SOURCE.format(package=package, to=WRITABLE_DIR)}
    return files

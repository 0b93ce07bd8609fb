"""How the CLI prints: test output in go test's order, raw bytes, positions at the user's paths.

The test binary streams below were recorded from real runs (``-test.v=test2json``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gosandbox.cli.output import LineWriter, RawWriter
from gosandbox.cli.package import LocalPackage, read_package
from gosandbox.cli.testprint import TestPrinter
from gosandbox.runner import text

FAILING = (
    "\x16=== RUN   TestAdd\n    calc_test.go:6: checking add\n\x0f    calc_test.go:8: bad sum\x0e\n"
    "\x16--- FAIL: TestAdd (0.00s)\n\x16=== NAME  \n\x16=== RUN   TestSkip\n    calc_test.go:12: later\n"
    "\x16--- SKIP: TestSkip (0.00s)\n\x16=== NAME  \n\x16=== RUN   TestSub\nplain stdout in test\n"
    "\x16=== RUN   TestSub/one\n    more_test.go:7: in one\n\x16--- PASS: TestSub/one (0.00s)\n"
    "\x16=== NAME  TestSub\n\x16=== RUN   TestSub/two\n\x0f    more_test.go:8: two fails\x0e\n"
    "\x16--- FAIL: TestSub/two (0.00s)\n\x16=== NAME  TestSub\n\x16--- FAIL: TestSub (0.00s)\n"
    "\x16=== NAME  \n\x16FAIL\n"
)
BENCHMARKS = (
    "\x16=== RUN   TestSkip\n    calc_test.go:12: later\n\x16--- SKIP: TestSkip (0.00s)\n\x16=== NAME  \n"
    "goos: linux\ngoarch: amd64\npkg: calc\ncpu: AMD EPYC\n\x16=== RUN   BenchmarkAdd\nBenchmarkAdd\n"
    "BenchmarkAdd \t21508090\t        61.54 ns/op\n\x16=== NAME  \n\x16=== RUN   BenchmarkLog\nBenchmarkLog\n"
    "    more_test.go:11: bench log\n    more_test.go:11: bench log\n"
    "BenchmarkLog \t1000000000\t         0.4480 ns/op\n\x16=== NAME  \n\x16PASS\ncoverage: 100.0% of statements\n"
)
DIED = "\x16=== RUN   TestFirst\n    h_test.go:5: first ok\n\x16--- PASS: TestFirst (0.00s)\n\x16=== NAME  \n" + (
    "\x16=== RUN   TestHang\n    h_test.go:6: about to hang\n"
)


def printed(stream: str, *, verbose: bool = False) -> str:
    printer = TestPrinter(verbose=verbose, rewrite=lambda line: line)
    return "".join(printer.line(line) for line in stream.splitlines(keepends=True)) + printer.finish()


def test_failed_tests_show_their_logs_under_their_fail_line_and_subtests_nest() -> None:
    assert printed(FAILING) == (
        "--- FAIL: TestAdd (0.00s)\n    calc_test.go:6: checking add\n    calc_test.go:8: bad sum\n"
        "plain stdout in test\n"
        "--- FAIL: TestSub (0.00s)\n    --- FAIL: TestSub/two (0.00s)\n        more_test.go:8: two fails\n"
        "FAIL\n"
    )


def test_verbose_prints_every_line_in_order_without_the_framing() -> None:
    shown = printed(FAILING, verbose=True)
    assert "\x16" not in shown
    assert "\x0f" not in shown
    assert shown.splitlines()[:4] == [
        "=== RUN   TestAdd",
        "    calc_test.go:6: checking add",
        "    calc_test.go:8: bad sum",
        "--- FAIL: TestAdd (0.00s)",
    ]
    assert "    more_test.go:7: in one\n--- PASS: TestSub/one (0.00s)\n" in shown


def test_benchmark_rows_follow_the_header_and_their_logs_follow_the_rows() -> None:
    assert printed(BENCHMARKS) == (
        "goos: linux\ngoarch: amd64\npkg: calc\ncpu: AMD EPYC\n"
        "BenchmarkAdd \t21508090\t        61.54 ns/op\n"
        "BenchmarkLog \t1000000000\t         0.4480 ns/op\n"
        "--- BENCH: BenchmarkLog\n    more_test.go:11: bench log\n    more_test.go:11: bench log\n"
        "coverage: 100.0% of statements\n"
    )


def test_a_test_the_binary_died_in_still_shows_its_logs() -> None:
    assert printed(DIED) == "--- FAIL: TestHang (did not finish)\n    h_test.go:6: about to hang\n"


def test_output_bytes_pass_through_unchanged_whatever_the_chunks() -> None:
    data = b"\xff|\xf0\x9f|\x00|\r\nline two\xe2\x82"
    for writer_of in (lambda out: LineWriter(out, lambda line: line), RawWriter):
        out = io.BytesIO()
        writer = writer_of(out)
        for index in range(len(data)):  # one byte at a time: lines and characters split everywhere
            writer.feed(data[index : index + 1])
        writer.close()
        assert out.getvalue() == data


def _package(names: dict[str, str], go_mod: str | None = None) -> LocalPackage:
    files = {name: "" for name in names} | ({"go.mod": go_mod} if go_mod else {})
    return LocalPackage(Path("."), files, names)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("./main.go:6:6: undefined: fmt.Prinln\n", "work/typo.go:6:6: undefined: fmt.Prinln\n"),
        ("\tsandbox/main.go:8 +0x4d\n", "\twork/typo.go:8 +0x4d\n"),
        ("    main.go:12: a log line\n", "    work/typo.go:12: a log line\n"),
        ("xmain.go:3: not ours\n", "xmain.go:3: not ours\n"),
        ("other/main.go:3: another module\n", "other/main.go:3: another module\n"),
        ("main.go is mentioned without a position\n", "main.go is mentioned without a position\n"),
    ],
)
def test_positions_name_the_users_file(line: str, expected: str) -> None:
    assert _package({"main.go": "work/typo.go"}).rewrite(line) == expected


def test_positions_in_a_module_and_its_subdirectories() -> None:
    package = _package({"calc.go": "pkg/calc.go", "sub/x.go": "pkg/sub/x.go"}, "module example.com/calc\n")
    trace = "\texample.com/calc/sub/x.go:4 +0x1d\n\texample.com/calc/calc.go:9 +0x2\n"
    assert package.rewrite(trace) == "\tpkg/sub/x.go:4 +0x1d\n\tpkg/calc.go:9 +0x2\n"


def test_a_single_file_keeps_its_name_and_a_directory_skips_what_it_cannot_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir" / ".git").mkdir(parents=True)
    (tmp_path / "dir" / "main.go").write_text("package main\n")
    (tmp_path / "dir" / ".git" / "HEAD").write_text("x\n")
    (tmp_path / "dir" / "logo.bin").write_bytes(b"\x89PNG\xff")
    (tmp_path / "my prog.go").write_text("package main\n")
    assert read_package(Path("dir")).shown == {"main.go": "dir/main.go"}
    assert read_package(Path("my prog.go")).shown == {"main.go": "my prog.go"}  # the sandbox refuses the space
    assert read_package(tmp_path / "dir" / "main.go").shown == {"main.go": f"{tmp_path}/dir/main.go"}


def test_the_api_replaces_each_maximal_invalid_subsequence_with_one_replacement_character() -> None:
    # As docs/http-api.md says: a lone 0xff is one U+FFFD, a truncated four-byte character (f0 9f) is one too.
    assert text(b"\xff|\xf0\x9f|\xed\xa0\x80|ok") == "\ufffd|\ufffd|\ufffd\ufffd\ufffd|ok"

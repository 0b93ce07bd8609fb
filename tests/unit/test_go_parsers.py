"""Parsers of Go tool output and of txtar archives (no engine needed)."""

from __future__ import annotations

from typing import Any

import pytest

from gosandbox.diagnostics import Diagnostic, parse_positions, parse_vet_json
from gosandbox.errors import InvalidRequest, InvalidSource
from gosandbox.gotest import Benchmark, TestOptions, module_path, parse_test_output
from gosandbox.toolchain import TEST_VET_FLAGS, Tool, go_command
from gosandbox.txtar import looks_like_txtar, parse_txtar

F = "\x16"


def test_compiler_positions() -> None:
    output = '# sandbox\n./main.go:9:2: "os" imported and not used\n./util.go:3: no column here\nnoise\n'
    assert parse_positions(output) == [
        Diagnostic("main.go", 9, 2, '"os" imported and not used'),
        Diagnostic("util.go", 3, 0, "no column here"),
    ]


def test_vet_type_error_and_gofmt_positions() -> None:
    assert parse_positions("vet: ./main.go:3:15: declared and not used: x\nmain.go:1:2: expected ';'\n") == [
        Diagnostic("main.go", 3, 15, "declared and not used: x"),
        Diagnostic("main.go", 1, 2, "expected ';'"),
    ]


def test_vet_json_between_other_lines() -> None:
    output = (
        "# example.com/x\n"
        '{\n\t"example.com/x": {\n\t\t"printf": [\n\t\t\t{"posn": "./main.go:6:2", "message": "bad verb"}\n'
        "\t\t]\n\t}\n}\n"
    )
    assert parse_vet_json(output) == [Diagnostic("main.go", 6, 2, "bad verb", "printf")]


def test_vet_json_that_is_not_vet_json_gives_nothing() -> None:
    assert parse_vet_json('{"a": 1} {broken') == []


def test_test2json_framing() -> None:
    stdout = (
        f"{F}=== RUN   TestA\n    a_test.go:3: log line\n{F}--- PASS: TestA (0.01s)\n"
        f"{F}=== RUN   TestB\n\x0f    b_test.go:9: boom\x0e\n{F}--- FAIL: TestB (0.00s)\n"
        f"{F}=== RUN   TestC\n{F}--- SKIP: TestC (0.00s)\n{F}=== NAME  \n"
        f"{F}=== RUN   BenchmarkX\nBenchmarkX\nBenchmarkX-2   \t     100\t         4.140 ns/op\n"
        f"{F}FAIL\ncoverage: 40.0% of statements\n"
    )
    report = parse_test_output(stdout)
    assert [(t.name, t.result, t.elapsed_s) for t in report.tests] == [
        ("TestA", "pass", 0.01),
        ("TestB", "fail", 0.0),
        ("TestC", "skip", 0.0),
        ("BenchmarkX", "running", 0.0),  # the binary said FAIL: unfinished stays "running"
    ]
    assert report.tests[0].output == "    a_test.go:3: log line\n"
    assert report.tests[1].output == "    b_test.go:9: boom\n"
    assert report.benchmarks == [Benchmark("BenchmarkX", 100, 4.14, "")]
    assert report.passed is False
    assert report.coverage_percent == 40.0


def test_a_passing_benchmark_passes() -> None:
    report = parse_test_output(f"{F}=== RUN   BenchmarkX\nBenchmarkX-2 \t 10\t 1.0 ns/op\n{F}PASS\n", "example.com/x")
    assert [(t.name, t.result, t.package) for t in report.tests] == [("BenchmarkX", "pass", "example.com/x")]


def test_output_that_looks_like_a_frame_but_is_not_framed_stays_output() -> None:
    report = parse_test_output(f"{F}=== RUN   TestA\n--- PASS: TestFake (0.00s)\n{F}--- PASS: TestA (0.00s)\n")
    assert [t.name for t in report.tests] == ["TestA"]
    assert "TestFake" in report.tests[0].output


def test_test_options_become_test_binary_flags() -> None:
    options = TestOptions(run="^TestA$", count=2, bench=".", benchtime="10x", fuzz="FuzzX", fuzztime="2s", short=True)
    assert options.binary_args(4.5) == [
        "-test.v=test2json", "-test.count=2", "-test.paniconexit0", "-test.timeout=4.5s", "-test.run=^TestA$",
        "-test.short", "-test.bench=.", "-test.benchtime=10x", "-test.fuzz=FuzzX", "-test.fuzztime=2s",
        "-test.fuzzcachedir=/tmp/fuzz",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [{"run": "a\nb"}, {"benchtime": "1h; rm"}, {"count": 0}, {"fuzz": "x" * 300}],
)
def test_bad_test_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        TestOptions(**options)


def test_module_path_of_go_mod() -> None:
    assert module_path('// c\nmodule "example.com/x" // why\n\ngo 1.27\n') == "example.com/x"
    assert module_path("go 1.27\n") == ""


def test_txtar_with_a_preamble_and_files() -> None:
    archive = "package main\n\nfunc main() {}\n-- go.mod --\nmodule x\n-- sub/a.txt --\nA\n"
    assert looks_like_txtar(archive)
    assert parse_txtar(archive) == {
        "main.go": "package main\n\nfunc main() {}\n",
        "go.mod": "module x\n",
        "sub/a.txt": "A\n",
    }


def test_txtar_without_a_preamble_and_plain_go_is_not_txtar() -> None:
    assert parse_txtar("-- main.go --\npackage main\n") == {"main.go": "package main\n"}
    assert not looks_like_txtar("package main\n\n// -- not a marker --\n")


def test_txtar_duplicate_names_are_refused() -> None:
    with pytest.raises(InvalidSource, match="twice"):
        parse_txtar("-- a.go --\n-- a.go --\n")


def test_hostile_output_never_breaks_the_parsers() -> None:
    huge = "9" * 5000
    assert parse_positions(f"main.go:{huge}: x\nmain.go:{huge}:{huge}: y\n") == []
    assert parse_vet_json('{"p": {"a": [1, "x", {"posn": "m.go:zz:1", "message": "m"}]}} {"a":' + "[" * 5000) == [
        Diagnostic("m.go", 0, 1, "m", "a")
    ]
    report = parse_test_output(f"{F}=== RUN   BenchmarkX\nBenchmarkX-2 {huge} 1 ns/op\n{F}--- PASS: TestY ({huge}s)\n")
    assert report.benchmarks == []


def test_go_commands_of_each_tool() -> None:
    assert go_command(Tool.BUILD, "/o") == ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/o", "."]
    assert go_command(Tool.TEST, "/o", fuzz="FuzzX") == [
        "go", "test", "-c", "-trimpath", "-ldflags=-s -w", "-fuzz=FuzzX", "-o", "/o", ".",
    ]  # fmt: skip
    # Under -cover, vet the sources as written (go test would vet the instrumented ones), once they compile.
    assert go_command(Tool.TEST, "/o", cover=True, fuzz="FuzzX") == [
        "go", "test", "-c", "-trimpath", "-ldflags=-s -w", "-vet=off", "-cover", "-fuzz=FuzzX", "-o", "/o", ".",
        "--and", "go", "vet", "-trimpath", *TEST_VET_FLAGS, ".",
    ]  # fmt: skip
    assert go_command(Tool.VET, "/o") == ["go", "vet", "-json", "./..."]
    assert go_command(Tool.FMT, "/o") == ["gofmt", "-l", "-w", ".", "--then", "go", "mod", "edit", "-fmt"]

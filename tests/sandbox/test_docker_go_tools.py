"""/test, /vet, /fmt, packages and txtar against the real engine."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.backends.docker.images import toolchain_root
from gosandbox.toolchain import TEST_VET_FLAGS
from support.docker_helpers import run

GO_MOD = "module example.com/calc\n\ngo 1.27\n"
CALC = "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Sub(a, b int) int { return a - b }\n"
CALC_TEST = """package calc

import (
\t"os"
\t"testing"
)

func TestAdd(t *testing.T) {
\tif Add(1, 2) != 3 {
\t\tt.Fatal("bad")
\t}
\tt.Log("add ok")
}

func TestSub(t *testing.T) {
\tt.Run("pos", func(t *testing.T) {})
\tt.Run("neg", func(t *testing.T) { t.Errorf("got %d want %d", Sub(1, 2), 0) })
}

func TestSkip(t *testing.T) { t.Skip("later") }

func TestData(t *testing.T) {
\tb, err := os.ReadFile("testdata/in.txt")
\tif err != nil {
\t\tt.Fatal(err)
\t}
\tt.Logf("%q", b)
}

func BenchmarkAdd(b *testing.B) {
\tfor i := 0; i < b.N; i++ {
\t\tAdd(i, i)
\t}
}

func FuzzAdd(f *testing.F) {
\tf.Add(1, 2)
\tf.Fuzz(func(t *testing.T, a, b int) {
\t\tif Add(a, b) != a+b {
\t\t\tt.Fatal("not commutative")
\t\t}
\t})
}
"""
PACKAGE = {"go.mod": GO_MOD, "calc.go": CALC, "calc_test.go": CALC_TEST, "testdata/in.txt": "hello\n"}


def post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _by_name(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["name"]: case for case in result["tests"]}


def test_go_test_reports_each_test(live: TestClient) -> None:
    result = post(live, "/test", {"files": PACKAGE, "cover": True})
    tests = _by_name(result)
    assert result["status"] == "runtime_error"  # a test failed: the test binary exits 1
    assert result["passed"] is False
    assert tests["TestAdd"]["result"] == "pass"
    assert tests["TestAdd"]["package"] == "example.com/calc"
    assert "add ok" in tests["TestAdd"]["output"]
    assert tests["TestSub"]["result"] == "fail"
    assert tests["TestSub/pos"]["result"] == "pass"
    assert tests["TestSub/neg"]["result"] == "fail"
    assert "got -1 want 0" in tests["TestSub/neg"]["output"]
    assert tests["TestSkip"]["result"] == "skip"
    assert tests["TestData"]["result"] == "pass"  # testdata/ is in the test's working directory
    assert '"hello\\n"' in tests["TestData"]["output"]
    assert isinstance(result["coverage_percent"], float)


def test_go_test_run_filter_benchmark_and_pass(live: TestClient) -> None:
    result = post(live, "/test", {"files": PACKAGE, "run": "TestAdd|TestData", "bench": ".", "benchtime": "100x"})
    assert (result["status"], result["passed"]) == ("ok", True)
    assert set(_by_name(result)) == {"TestAdd", "TestData", "BenchmarkAdd"}
    assert [b["name"] for b in result["benchmarks"]] == ["BenchmarkAdd"]
    assert result["benchmarks"][0]["iterations"] == 100


def test_go_test_fuzz_is_time_bounded(live: TestClient) -> None:
    body = {"files": PACKAGE, "run": "^$", "fuzz": "FuzzAdd", "fuzztime": "1s", "limits": {"wall_s": 10}}
    result = post(live, "/test", body)
    assert (result["status"], result["passed"]) == ("ok", True), result
    assert _by_name(result)["FuzzAdd"]["result"] == "pass"
    assert "not built with coverage instrumentation" not in str(result)  # coverage-guided


def test_go_test_compile_error_has_positions(live: TestClient) -> None:
    broken = {
        **PACKAGE,
        "calc_test.go": 'package calc\n\nimport "testing"\n\nfunc TestX(t *testing.T) { undefinedThing() }\n',
    }
    result = post(live, "/test", {"files": broken})
    assert result["status"] == "compile_error"
    assert result["diagnostics"][0]["file"] == "calc_test.go"
    assert result["diagnostics"][0]["line"] == 5


def test_vet_reports_analyzer_findings(live: TestClient) -> None:
    code = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Printf("%d\\n", "not a number")\n}\n'
    result = post(live, "/vet", {"code": code})
    assert result["status"] == "ok"
    finding = result["diagnostics"][0]
    assert (finding["file"], finding["line"], finding["analyzer"]) == ("main.go", 6, "printf")
    assert "%d" in finding["message"]


def test_vet_of_a_broken_package_is_a_compile_error(live: TestClient) -> None:
    result = post(live, "/vet", {"code": "package main\n\nfunc main() { x := 1 }\n"})
    assert result["status"] == "compile_error"
    assert result["diagnostics"][0]["line"] == 3


def test_fmt_formats_go_and_go_mod(live: TestClient) -> None:
    files = {
        "main.go": 'package main\nimport "fmt"\nfunc main(){fmt.Println( 1 )}\n',
        "go.mod": "module  x\ngo   1.27\n",
    }
    result = post(live, "/fmt", {"files": files})
    assert result["ok"] is True
    assert result["files"]["main.go"] == 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(1) }\n'
    assert result["files"]["go.mod"] == "module x\n\ngo 1.27\n"
    assert result["changed"] == ["go.mod", "main.go"]


def test_fmt_syntax_error_has_positions(live: TestClient) -> None:
    result = post(live, "/fmt", {"code": "package main\n\nfunc main() {\n"})
    assert result["ok"] is False
    assert result["diagnostics"][0]["file"] == "main.go"
    assert set(result["files"]) == {"main.go"}  # no go.mod invented for the caller


def test_txtar_and_embed_and_internal_package(live: TestClient) -> None:
    archive = (
        'package main\n\nimport (\n\t_ "embed"\n\t"fmt"\n\n\t"example.com/app/internal/greet"\n)\n\n'
        "//go:embed static/motd.txt\nvar motd string\n\nfunc main() { fmt.Print(greet.Hello(motd)) }\n"
        "-- go.mod --\nmodule example.com/app\n\ngo 1.27\n"
        '-- internal/greet/greet.go --\npackage greet\n\nfunc Hello(s string) string { return "hello, " + s }\n'
        "-- static/motd.txt --\nworld\n"
    )
    result = run(live, txtar=archive)
    assert (result["status"], result["stdout"]) == ("ok", "hello, world\n"), result
    response = live.post("/run", content=archive, headers={"content-type": "text/plain"})
    assert response.json()["stdout"] == "hello, world\n"


def test_run_compile_error_has_structured_diagnostics(live: TestClient) -> None:
    result = run(live, 'package main\n\nimport "os"\n\nfunc main() {}\n')
    assert result["diagnostics"] == [
        {"file": "main.go", "line": 3, "column": 8, "message": '"os" imported and not used', "analyzer": None}
    ]


# Two go vet printf findings: under -cover go test used to vet the instrumented sources (6:46 and 7:89).
VET_CALC = {
    "go.mod": "module calc\n\ngo 1.22\n",
    "calc.go": 'package calc\n\nimport "fmt"\n\nfunc Add(a, b int) int {\n'
    '\tif a > 100 { fmt.Printf("%d\\n", a, b) }\n'
    '\tfor i := 0; i < 0; i++ { fmt.Printf("%d\\n", a, b) }\n'
    "\treturn a + b\n}\n",
    "calc_test.go": 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) { Add(1, 2) }\n',
}
PRINTF_FINDING = "fmt.Printf call needs 1 arg but has 2 args"


@pytest.mark.parametrize("cover", [False, True])
def test_go_test_vet_findings_have_the_sources_positions(live: TestClient, cover: bool) -> None:
    for _ in range(2):  # the same sources again, in another build directory: go vet's findings come from its cache
        result = post(live, "/test", {"files": VET_CALC, "cover": cover})
        assert (result["status"], result["tests"]) == ("compile_error", []), result
        positions = [(d["file"], d["line"], d["column"], d["message"]) for d in result["diagnostics"]]
        assert positions == [("calc.go", 6, 15, PRINTF_FINDING), ("calc.go", 7, 27, PRINTF_FINDING)], result
        assert "../" not in result["compile_output"]


def test_go_test_cover_lists_every_compile_error_and_skips_vet(live: TestClient) -> None:
    broken = {**VET_CALC, "broken.go": 'package calc\n\nfunc B() int { return "x" + 1 }\n\nfunc C() { nothing() }\n'}
    result = post(live, "/test", {"files": broken, "cover": True})
    assert result["status"] == "compile_error"
    # The compiler's whole list (go vet would stop at the first type error and spell it "vet: ..."),
    # at the columns of the source as sent (the instrumented source's were 3:179).
    assert [(d["file"], d["line"]) for d in result["diagnostics"]] == [("broken.go", 3), ("broken.go", 5)], result
    assert result["diagnostics"] == post(live, "/test", {"files": broken})["diagnostics"]
    assert "vet: " not in result["compile_output"]
    assert PRINTF_FINDING not in result["compile_output"]  # vet did not run


def test_go_test_cover_of_a_vet_clean_package_runs_the_tests(live: TestClient) -> None:
    clean = {**VET_CALC, "calc.go": VET_CALC["calc.go"].replace("a, b) }", "a) }")}
    result = post(live, "/test", {"files": clean, "cover": True})
    assert (result["status"], result["passed"], result["compile_output"]) == ("ok", True, ""), result
    assert result["coverage_percent"] is not None


def test_cover_vet_runs_go_tests_default_analyzers() -> None:
    """TEST_VET_FLAGS is defaultVetFlags of the pinned toolchain's go test (its commented-out ones left out)."""
    source = (toolchain_root() / "src" / "cmd" / "go" / "internal" / "test" / "test.go").read_text()
    block = source.split("var defaultVetFlags = []string{", 1)[1].split("}", 1)[0]
    assert tuple(re.findall(r'^\s*"(-\w+)",', block, re.MULTILINE)) == TEST_VET_FLAGS

"""POST /explain against the real builder: what the pinned compiler decides, and its assembly, line by line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from gosandbox.mcp.server import build_mcp_server
from support.cli_runs import Cli
from support.docker_helpers import TEST_INSTANCE, run

GO_MOD = "module example.com/explain\n\ngo 1.27\n"
PROGRAM = """package main

import (
\t"fmt"

\t"example.com/explain/shapes"
)

type T struct{ a, b int }

func newT() *T {
\treturn &T{1, 2}
}

func add(a, b int) int { return a + b }

func sum(s []int) int {
\tt := 0
\tfor i := range s {
\t\tt += s[i]
\t}
\treturn t
}

//go:noinline
func next(s []int, i int) int {
\treturn s[i+1]
}

func main() {
\ts := []int{1, 2, 3}
\tfmt.Println(newT(), add(1, 2), sum(s), next(s, 0), shapes.Area(2, 3))
}
"""
SHAPES = "package shapes\n\nfunc Area(w, h int) int { return w * h }\n"
FILES = {"main.go": PROGRAM, "go.mod": GO_MOD, "shapes/shapes.go": SHAPES}


def line_of(text: str, source: str = PROGRAM) -> int:
    [number] = [n for n, line in enumerate(source.splitlines(), 1) if text in line]
    return number


def explain(live: TestClient, **body: Any) -> dict[str, Any]:
    response = live.post("/explain", json={"files": FILES, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def explained(live: TestClient) -> dict[str, Any]:
    result = explain(live)
    assert result["status"] == "ok", result
    return result


def decisions(result: dict[str, Any], kind: str, line: int, file: str = "main.go") -> list[dict[str, Any]]:
    return [d for d in result["decisions"] if (d["kind"], d["line"], d["file"]) == (kind, line, file)]


def test_a_returned_pointer_escapes_at_its_line(explained: dict[str, Any]) -> None:
    [escape] = decisions(explained, "escapes", line_of("return &T{1, 2}"))
    assert escape["message"] == "&T{...} escapes to heap"
    assert escape["column"] == PROGRAM.splitlines()[line_of("return &T{1, 2}") - 1].index("&") + 1


def test_a_small_helper_can_inline_and_its_call_is_inlined(explained: dict[str, Any]) -> None:
    [helper] = decisions(explained, "can_inline", line_of("func add("))
    assert helper["message"].startswith("can inline add (cost: ")
    calls = [d["message"] for d in decisions(explained, "inlined_call", line_of("fmt.Println("))]
    assert "inlining call to add" in calls
    [noinline] = decisions(explained, "cannot_inline", line_of("func next("))
    assert noinline["message"] == "cannot inline: marked go:noinline"


def test_range_indexing_has_no_bounds_check_and_i_plus_1_has_one(explained: dict[str, Any]) -> None:
    loop = range(line_of("func sum("), line_of("func sum(") + 7)
    assert not [d for d in explained["decisions"] if d["kind"] == "bounds_check" and d["line"] in loop]
    [check] = decisions(explained, "bounds_check", line_of("return s[i+1]"))
    assert check["message"] == "index bounds check"


def test_only_the_submissions_files_are_reported(explained: dict[str, Any]) -> None:
    assert {d["file"] for d in explained["decisions"]} == {"main.go", "shapes/shapes.go"}
    assert decisions(explained, "can_inline", 3, "shapes/shapes.go")
    assert {f["file"] for f in explained["assembly"]} == {"main.go", "shapes/shapes.go"}
    main = next(f for f in explained["assembly"] if f["function"] == "main.main")
    inlined_elsewhere = [i for i in main["instructions"] if i["file"] is None]
    assert inlined_elsewhere  # fmt.Println's body, inlined: kept without a line of ours
    assert all(i["line"] is None for i in inlined_elsewhere)


def test_the_assembly_of_add_has_its_addq_on_its_line(live: TestClient) -> None:
    result = explain(live, function="main.add")
    [add] = result["assembly"]
    assert (add["function"], add["file"], add["line"]) == ("main.add", "main.go", line_of("func add("))
    assert {"file": "main.go", "line": line_of("func add("), "text": "ADDQ BX, AX"} in add["instructions"]


def test_a_line_range_lists_its_instructions_only(live: TestClient) -> None:
    line = line_of("return s[i+1]")
    result = explain(live, lines=[line, line], file="main.go")
    assert [f["function"] for f in result["assembly"]] == ["main.next"]
    assert {i["line"] for i in result["assembly"][0]["instructions"]} == {line}
    texts = [i["text"] for i in result["assembly"][0]["instructions"]]
    assert "CALL runtime.panicBounds(SB)" in texts  # the bounds check's failure path, on the checked line


def test_explaining_again_reports_the_same_and_a_normal_build_gets_none_of_it(
    live: TestClient, explained: dict[str, Any]
) -> None:
    again = explain(live)
    assert again["decisions"] == explained["decisions"]  # the compile ran again: the records were written again
    ran = run(live, files=FILES)
    assert ran["status"] == "ok", ran
    assert ran["stdout"] == "&{1 2} 3 6 2 6\n"
    assert ran["compile_output"] == ""  # no -m text replayed from the explain build's cache entry


def test_a_compile_error_answers_diagnostics(live: TestClient) -> None:
    response = live.post("/explain", json={"code": "package main\n\nfunc main() {\n\tx := 1\n}\n"})
    result = response.json()
    assert response.status_code == 200
    assert (result["status"], result["decisions"], result["assembly"]) == ("compile_error", [], [])
    assert [(d["file"], d["line"], d["message"]) for d in result["diagnostics"]] == [
        ("main.go", 4, "declared and not used: x")
    ]


def test_a_go_mod_the_go_command_cannot_parse_is_a_compile_error(live: TestClient) -> None:
    response = live.post("/explain", json={"files": {"main.go": "package main\nfunc main() {}\n",
                                                     "go.mod": "module m\n\ngo 1.27\nrequire (\n"}})  # fmt: skip
    result = response.json()
    assert response.status_code == 200
    assert result["status"] == "compile_error"
    assert "go.mod" in result["compile_output"]


def test_a_listing_past_its_cap_is_cut_and_says_so(live: TestClient) -> None:
    body = "".join(f"\tx = use(x*{i % 7 + 2} + {i})\n" for i in range(6000))
    use = "//go:noinline\nfunc use(x int) int { return x ^ 5 }\n"
    code = f'package main\n\nimport "os"\n\n{use}\nfunc main() {{\n\tx := len(os.Args)\n{body}\tos.Exit(x & 1)\n}}\n'
    result = explain(live, files={"main.go": code})
    assert result["status"] == "ok", result["compile_output"]
    assert result["truncated"]
    assert sum(len(f["instructions"]) for f in result["assembly"]) == 20_000


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"code": "package main\n//" + "x" * (2 * 1024 * 1024)}, 413),
        ({"files": {"main.go": "package main\n", "go.mod": "module m\n\nreplace x => ../../cache\n"}}, 422),
        ({"files": {"main.go": "package main\n", "x.s": '#include "/etc/passwd"\n'}}, 422),
        ({"code": "package main\n", "lines": [3, 1]}, 422),
    ],
)
def test_hostile_input_is_a_clear_4xx(live: TestClient, body: dict[str, Any], status: int) -> None:
    response = live.post("/explain", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


def test_the_mcp_tool_on_the_real_builder(live: TestClient) -> None:
    app: Any = live.app
    server = build_mcp_server(app.state.settings, app.state.jobs)

    async def call() -> dict[str, Any] | None:
        async with Client(server) as client:
            result = await client.call_tool("explain_go", {"files": FILES, "function": "add"})
        content: dict[str, Any] | None = result.structured_content
        return content

    out = asyncio.run(call())
    assert out is not None
    assert {"file": "main.go", "line": line_of("return &T{1, 2}"), "column": 9, "kind": "escapes",
            "message": "&T{...} escapes to heap"} in out["decisions"]  # fmt: skip
    [add] = out["assembly"]
    assert {"line": line_of("func add("), "text": "ADDQ BX, AX"} in add["instructions"]


def test_the_command_on_this_host(tmp_path: Path) -> None:
    package = tmp_path / "explain"
    for name, text in FILES.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    cli = Cli(tmp_path / "state", f"{TEST_INSTANCE}-explain")
    try:
        done = cli("explain", "explain", "-f", "add", cwd=tmp_path)
    finally:
        cli.reap()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert f"explain/main.go:{line_of('return &T{1, 2}')}:9: escapes: &T{{...}} escapes to heap" in lines
    assert f"{line_of('func add('):>6}  ADDQ BX, AX" in lines

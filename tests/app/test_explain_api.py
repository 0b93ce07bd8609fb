"""POST /explain in-process: the body as /run's, the answer's shape, the assembly selection, the refusals.

The fake builder answers an EXPLAIN build with one real compile's output and records (tests/data/explain/rich).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.explain import DecisionKind
from gosandbox.toolchain import Tool
from support.app_helpers import make_settings, problem_of

RICH = Path(__file__).parent.parent / "data" / "explain" / "rich"
FILES = {path.relative_to(RICH / "src").as_posix(): path.read_text() for path in (RICH / "src").rglob("*.go")}
GO_MOD = (RICH / "src" / "go.mod").read_text()
RECORDS = {path.relative_to(RICH / "records").as_posix(): path.read_text() for path in (RICH / "records").rglob("*")
           if path.is_file()}  # fmt: skip
FAILED = "# sandbox\n./main.go:4:2: declared and not used: x\n"
RESULT_FIELDS = {"status", "decisions", "assembly", "diagnostics", "compile_output", "truncated", "timings_ms",
                 "go_version"}  # fmt: skip
DECISION_FIELDS = {"file", "line", "column", "end_line", "end_column", "kind", "message"}


def _compile(job: BuildJob) -> BuildOutcome:
    """The real compile's answer for EXPLAIN (its listing only when asked), an error for a file that says so."""
    assert job.tool is Tool.EXPLAIN
    if "x := 1" in job.files.get("main.go", ""):
        return BuildOutcome(False, FAILED, None, 0.1)
    output = (RICH / "output.txt").read_text()
    if not job.assembly:
        output = "\n".join(line for line in output.splitlines() if not line.startswith("\t") and " STEXT " not in line)
    return BuildOutcome(True, output, None, 0.2, files=RECORDS)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(build=_compile)


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), backend=backend)) as test_client:
        yield test_client


def explained(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/explain", json={"files": {**FILES, "go.mod": GO_MOD}, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert set(result) == RESULT_FIELDS
    return result


def test_decisions_and_assembly_of_the_package(client: TestClient, backend: FakeBackend) -> None:
    result = explained(client, {})
    assert result["status"] == "ok"
    assert result["diagnostics"] == []
    assert all(set(d) == DECISION_FIELDS for d in result["decisions"])
    assert {d["kind"] for d in result["decisions"]} <= {kind.value for kind in DecisionKind}
    escape = next(d for d in result["decisions"] if d["kind"] == "escapes")
    where = (escape["file"], escape["line"], escape["column"], escape["message"])
    assert where == ("main.go", 14, 9, "&T{...} escapes to heap")
    add = next(f for f in result["assembly"] if f["function"] == "main.add")
    assert (add["file"], add["line"]) == ("main.go", 17)
    assert {"file": "main.go", "line": 17, "text": "ADDQ BX, AX"} in add["instructions"]
    [job] = backend.builds
    assert (job.tool, job.assembly) == (Tool.EXPLAIN, True)
    assert backend.executions == []  # nothing runs


@pytest.mark.parametrize(
    ("body", "functions"),
    [
        ({"function": "add"}, ["main.add"]),
        ({"function": "sub.Double"}, ["example.com/rich/sub.Double"]),
        ({"lines": [27, 27], "file": "main.go"}, ["main.next", "main.main"]),
        ({"function": "main.main", "lines": [27, 27]}, ["main.main"]),
        ({"function": "nothing.here"}, []),
    ],
)
def test_one_function_or_a_line_range(client: TestClient, body: dict[str, Any], functions: list[str]) -> None:
    result = explained(client, body)
    assert [f["function"] for f in result["assembly"]] == functions
    if "lines" in body:
        assert {i["line"] for f in result["assembly"] for i in f["instructions"]} == {27}


def test_decisions_only_compiles_without_the_listing(client: TestClient, backend: FakeBackend) -> None:
    result = explained(client, {"assembly": False})
    assert result["assembly"] == []
    assert result["decisions"]
    assert backend.builds[0].assembly is False


def test_plain_text_is_main_go(client: TestClient, backend: FakeBackend) -> None:
    response = client.post("/explain", content=FILES["main.go"], headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert set(backend.builds[0].files) == {"main.go", "go.mod"}


def test_a_compile_error_answers_its_diagnostics(client: TestClient) -> None:
    response = client.post("/explain", json={"code": "package main\n\nfunc main() {\n\tx := 1\n}\n"})
    result = response.json()
    assert response.status_code == 200
    assert (result["status"], result["decisions"], result["assembly"]) == ("compile_error", [], [])
    assert result["diagnostics"] == [
        {"file": "main.go", "line": 4, "column": 2, "message": "declared and not used: x", "analyzer": None}
    ]
    assert result["compile_output"] == FAILED


def test_the_job_is_a_submission_of_kind_explain(client: TestClient) -> None:
    response = client.post("/explain", json={"files": {**FILES, "go.mod": GO_MOD}, "function": "add"})
    submission = client.get(f"/submissions/{response.headers['X-Submission-Id']}").json()
    assert (submission["kind"], submission["state"]) == ("explain", "done")
    assert [f["function"] for f in submission["result"]["assembly"]] == ["main.add"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"code": "package main", "lines": [5, 3]}, "1 <= first <= last"),
        ({"code": "package main", "lines": [0, 3]}, "1 <= first <= last"),
        ({"code": "package main", "lines": [1]}, "lines"),
        ({"code": "package main", "file": "main.go"}, "send lines with it"),
        ({"code": "package main", "function": ""}, "function"),
        ({"code": "package main", "function": "f" * 1001}, "function"),
        ({"code": "package main", "assembly": "yes"}, "assembly"),
        ({"code": "package main", "limits": {"wall_s": 10_000}}, "wall_s"),
        ({"code": "package main", "files": {"main.go": ""}}, "exactly one"),
        ({"files": {"main.go": "package main", "go.mod": "module m\nreplace a => ../b\n"}}, "local path"),
        ({"files": {"../main.go": "package main"}}, "'..'"),
        ({"files": {"main.s": "TEXT ·f(SB),0,$0"}}, "only Go is compiled"),
    ],
)
def test_bad_requests_are_422_before_any_build(client: TestClient, backend: FakeBackend, body: dict[str, Any],
                                                words: str) -> None:  # fmt: skip
    response = client.post("/explain", json=body)
    assert words in problem_of(response, 422, response.json()["type"].rsplit(":", 1)[-1])["detail"]
    assert backend.builds == []


def test_an_empty_body_is_refused(client: TestClient) -> None:
    response = client.post("/explain", content=b"", headers={"Content-Type": "application/json"})
    assert "send a package" in problem_of(response, 422, "invalid-source")["detail"]


def test_a_huge_file_is_413(client: TestClient, backend: FakeBackend) -> None:
    response = client.post("/explain", json={"code": "package main\n//" + "x" * 70_000})
    problem_of(response, 413, "payload-too-large")
    assert backend.builds == []


def test_another_media_type_is_415(client: TestClient) -> None:
    response = client.post("/explain", content=b"<go/>", headers={"Content-Type": "application/xml"})
    problem_of(response, 415, "unsupported-media-type")


def test_the_openapi_document_describes_explain(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/explain"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"function", "lines", "file", "assembly", "code", "files"} <= set(body["properties"])
    assert set(operation["responses"]) >= {"200", "413", "415", "422", "429"}


def test_the_binary_cache_never_holds_an_explain_build(tmp_path: Path) -> None:
    def build(job: BuildJob) -> BuildOutcome:
        return _compile(job) if job.tool is Tool.EXPLAIN else BuildOutcome(True, "", b"\x7fELF binary", 0.1)

    backend = FakeBackend(build=build)
    with TestClient(create_app(make_settings(tmp_path, binary_cache_mb=16), backend=backend)) as client:
        files = {**FILES, "go.mod": GO_MOD}
        assert client.post("/explain", json={"files": files}).status_code == 200
        first, second = (client.post("/run", json={"files": files}).json() for _ in range(2))
    assert [job.tool for job in backend.builds] == [Tool.EXPLAIN, Tool.BUILD]  # the first run built: no hit
    assert (first["cached"], second["cached"]) == (False, True)

"""The Go Playground layer in-process on the FakeBackend: its requests to jobs, our results to its answers,
shares, CORS; and the small things (an empty form post to /run, the front page, unknown paths)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.compat.playground.results import (
    TIMEOUT_ERROR,
    format_txtar,
    run_response,
    test_response,
    version_fields,
    vet_fields,
)
from gosandbox.compat.playground.routes import compile_request, is_test_program, plan_compile, program_files
from gosandbox.jobs.migrate import upgrade
from gosandbox.jobs.shares import ShareStore, share_id
from gosandbox.jobs.store import make_engine
from gosandbox.jobs.submission import KEYLESS, Kind
from gosandbox.toolchain import Tool
from support.app_helpers import make_settings, problem_of

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello")\n}\n'
BROKEN = "package main\n\nfunc main() {\n\tx := 1\n}\n"
TESTS = (
    'package main\n\nimport "testing"\n\nfunc TestOK(t *testing.T) {}\n\n'
    'func TestBad(t *testing.T) {\n\tt.Error("wrong")\n}\n'
)
VET_FINDING = "fmt.Printf format %d has arg s of wrong type string"
PROG_LINE = re.compile(r"prog.go:([0-9]+)")  # playground.js's lineHighlight


# --- the fake toolchain ---------------------------------------------------------------------------


def build(job: BuildJob) -> BuildOutcome:
    source = "".join(job.files.values())
    if "x := 1" in source:
        name = next(n for n in job.files if n.endswith(".go"))
        return BuildOutcome(False, f"# sandbox\n./{name}:4:2: declared and not used: x\n", None, 0.0)
    if job.tool is Tool.VET:
        if "Printf" not in source:
            return BuildOutcome(True, "", None, 0.0)
        name = next(n for n in job.files if n.endswith(".go"))
        finding = f'{{"sandbox": {{"printf": [{{"posn": "./{name}:6:2", "message": "{VET_FINDING}"}}]}}}}'
        return BuildOutcome(False, finding, None, 0.0)
    if job.tool is Tool.FMT:
        files = {n: t.replace("func main(){", "func main() {") for n, t in job.files.items()}
        return BuildOutcome(True, "", None, 0.0, files=files)
    return BuildOutcome(True, "", "".join(f"{n}\n{t}" for n, t in sorted(job.files.items())).encode(), 0.0)


def execute(job: ExecJob) -> ExecOutcome:
    program = job.binary.decode()
    if "-test.v=test2json" in job.args:
        out = (
            "\x16=== RUN   TestOK\n\x16--- PASS: TestOK (0.00s)\n\x16=== RUN   TestBad\n"
            "    prog_test.go:8: \x0fwrong\x0e\n\x16--- FAIL: TestBad (0.01s)\n\x16FAIL\n"
        )
        return ExecOutcome(1, None, out.encode(), b"", 0.0)
    if "for {}" in program:
        return ExecOutcome(None, 9, b"started\n", b"", 5.0, timed_out=True)
    if "panic(" in program:
        return ExecOutcome(2, None, b"before\n", b"panic: boom\n", 0.0)
    return ExecOutcome(0, None, b"hello\n", b"", 0.0)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(build=build, execute=execute)


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), backend=backend)) as test_client:
        yield test_client


def compile_form(client: TestClient, body: str, with_vet: bool = True) -> dict[str, Any]:
    """What playground.js posts: ``{version: 2, body, withVet}`` as a form."""
    response = client.post("/compile", data={"version": "2", "body": body, "withVet": str(with_vet).lower()})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def output_of(answer: dict[str, Any]) -> str:
    return "".join(event["Message"] for event in answer["Events"] or [])


# --- requests to jobs (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        (b"version=2&body=package+main&withVet=true", "application/x-www-form-urlencoded", ("package main", True)),
        (b"version=2&body=x&withVet=false", "application/x-www-form-urlencoded", ("x", False)),
        (b"body=x&withVet=1", "application/x-www-form-urlencoded", ("x", True)),
        (b'{"Body": "x", "WithVet": true}', "application/json", ("x", True)),
        (b'{"body": "x"}', "", ("x", False)),  # Go's decoder ignores case; no type is read as JSON
        (b'{"Body": "x", "WithVet": true}', "text/plain", ("x", True)),
    ],
)
def test_compile_requests_are_read_as_the_playground_reads_them(
    body: bytes, kind: str, expected: tuple[str, bool]
) -> None:
    request = compile_request(body, kind)
    assert (request.body, request.with_vet) == expected


@pytest.mark.parametrize(
    ("source", "is_test"),
    [
        (TESTS, True),
        ('package main\n\nimport "testing"\n\nfunc TestMain(m *testing.M) {}\n', True),
        ("package main\n\nfunc ExampleHello() {\n\t// Output: hi\n}\n", True),
        ('package main\n\nimport "testing"\n\nfunc Testimony(t *testing.T) {}\n', False),  # not a test name
        (TESTS + "\nfunc main() {}\n", False),  # a main: a program
        (TESTS.replace("package main", "package calc"), False),
        (HELLO, False),
    ],
)
def test_a_body_with_tests_and_no_main_is_a_test(source: str, is_test: bool) -> None:
    assert is_test_program(source) is is_test


def test_a_test_body_becomes_a_test_job_of_prog_test_go(tmp_path: Path) -> None:
    plan = plan_compile(b"body=" + TESTS.replace(" ", "+").encode(), "application/x-www-form-urlencoded",
                        make_settings(tmp_path))  # fmt: skip
    assert (plan.job.kind, plan.is_test, plan.vet) == (Kind.TEST, True, None)
    assert "prog_test.go" in plan.job.spec.files
    assert "prog.go" not in plan.job.spec.files


def test_txtar_bodies_name_their_preamble_prog_go() -> None:
    files, implicit = program_files("package main\n-- go.mod --\nmodule x\n-- util/u.go --\npackage util\n")
    assert (list(files), implicit) == (["prog.go", "go.mod", "util/u.go"], True)
    files, implicit = program_files("-- prog.go --\npackage main\n-- go.mod --\nmodule x\n")
    assert (list(files), implicit) == (["prog.go", "go.mod"], False)
    assert format_txtar({"prog.go": "package main\n", "go.mod": "module x"}, True) == (
        "package main\n-- go.mod --\nmodule x\n"
    )


# --- results to answers (pure) --------------------------------------------------------------------

RUN = {"status": "ok", "exit_code": 0, "stdout": "a\n", "stderr": "", "compile_output": "", "message": None}


@pytest.mark.parametrize(
    ("result", "chunks", "expected"),
    [
        (RUN, [("stdout", "a"), ("stdout", "\n")], {"Errors": "", "Status": 0,
                                                    "Events": [{"Message": "a\n", "Kind": "stdout", "Delay": 0}]}),
        ({**RUN, "status": "runtime_error", "exit_code": 2, "stderr": "panic: x\n"}, None,
         {"Errors": "", "Status": 2, "Events": [{"Message": "a\n", "Kind": "stdout", "Delay": 0},
                                                 {"Message": "panic: x\n", "Kind": "stderr", "Delay": 0}]}),
        ({**RUN, "status": "timeout", "exit_code": None}, None,
         {"Errors": TIMEOUT_ERROR, "Status": 0, "Events": [{"Message": "a\n", "Kind": "stdout", "Delay": 0}]}),
        ({**RUN, "status": "compile_error", "stdout": "", "compile_output": "# sandbox\n./prog.go:4:2: bad\n"},
         None,
         {"Errors": "./prog.go:4:2: bad\n", "Status": 0, "Events": None}),
        ({**RUN, "status": "memory_limit", "exit_code": None, "stdout": "", "message": "memory limit of 64 MiB"},
         None, {"Errors": "", "Status": 1,
                "Events": [{"Message": "\nmemory limit of 64 MiB\n", "Kind": "stderr", "Delay": 0}]}),
    ],
)  # fmt: skip
def test_run_results_as_compile_answers(result: dict[str, Any], chunks: Any, expected: dict[str, Any]) -> None:
    assert run_response(result, chunks) == {**expected, "IsTest": False, "TestsFailed": 0}


def test_test_results_print_as_go_test_v_and_count_failures() -> None:
    result = {"status": "runtime_error", "passed": False, "output": "", "stderr": "", "compile_output": "",
              "tests": [{"name": "TestA", "result": "pass", "elapsed_s": 0.0, "output": ""},
                        {"name": "TestA/sub", "result": "fail", "elapsed_s": 0.5,
                         "output": "    x.go:3: no\n"}]}  # fmt: skip
    answer = test_response(result)
    assert (answer["IsTest"], answer["TestsFailed"], answer["Status"]) == (True, 1, 1)
    assert output_of(answer) == (
        "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestA/sub\n    x.go:3: no\n"
        "    --- FAIL: TestA/sub (0.50s)\nFAIL\n"
    )
    failed = test_response({**result, "status": "compile_error", "compile_output": "./prog_test.go:9:1: bad\n"})
    assert failed["Errors"] == "./prog.go:9:1: bad\n"  # the user's file is prog.go


def test_vet_and_version_fields() -> None:
    vet = {"diagnostics": [{"file": "prog_test.go", "line": 6, "column": 2, "message": "m"}]}
    assert vet_fields(vet, renamed=True) == {"VetErrors": "./prog.go:6:2: m\n"}
    assert vet_fields({"diagnostics": []}, renamed=False) == {"VetOK": True}
    assert version_fields("go1.27.3") == {"Version": "go1.27.3", "Release": "go1.27", "Name": "Go 1.27"}
    assert version_fields(None) == {"Version": "", "Release": "", "Name": ""}


# --- the routes -----------------------------------------------------------------------------------


def test_hello_as_a_form_and_as_json(client: TestClient) -> None:
    answer = compile_form(client, HELLO)
    assert answer == {"Errors": "", "Events": [{"Message": "hello\n", "Kind": "stdout", "Delay": 0}], "Status": 0,
                      "IsTest": False, "TestsFailed": 0, "VetOK": True}  # fmt: skip
    as_json = client.post("/compile", json={"Body": HELLO, "WithVet": False}).json()
    assert as_json == {key: value for key, value in answer.items() if key != "VetOK"}


def test_a_compile_error_names_prog_go_and_has_no_vet(client: TestClient, backend: FakeBackend) -> None:
    answer = compile_form(client, BROKEN)
    assert [int(line) for line in PROG_LINE.findall(answer["Errors"])] == [4]
    assert answer["Events"] is None
    assert "VetOK" not in answer
    assert "VetErrors" not in answer
    assert [job.tool for job in backend.builds] == [Tool.BUILD]  # vet did not run after a failed build


def test_vet_errors_name_prog_go(client: TestClient) -> None:
    answer = compile_form(client, HELLO.replace('fmt.Println("hello")', 'fmt.Printf("%d", "s")'))
    assert answer["VetErrors"] == f"./prog.go:6:2: {VET_FINDING}\n"
    assert "VetOK" not in answer


def test_a_timeout_plays_back_its_output(client: TestClient) -> None:
    answer = compile_form(client, "package main\n\nfunc main() {\n\tfor {}\n}\n", with_vet=False)
    assert (answer["Errors"], output_of(answer), answer["Status"]) == (TIMEOUT_ERROR, "started\n", 0)


def test_a_test_body_runs_as_a_test(client: TestClient) -> None:
    answer = compile_form(client, TESTS, with_vet=False)
    assert (answer["IsTest"], answer["TestsFailed"], answer["Errors"]) == (True, 1, "")
    assert "--- FAIL: TestBad" in output_of(answer)
    assert "prog_test.go:8: wrong" in output_of(answer)


def test_a_bad_archive_is_errors_and_a_bad_request_is_400(client: TestClient) -> None:
    answer = compile_form(client, "-- a.go --\npackage main\n-- a.go --\npackage main\n")
    assert "twice" in answer["Errors"]
    problem_of(client.post("/compile", content=b"not json"), 400, "invalid-request")
    problem_of(client.post("/compile", data={"version": "2"}), 400, "invalid-request")


def test_fmt_as_the_playgrounds_form_and_the_native_json_still(client: TestClient) -> None:
    response = client.post("/fmt", data={"body": "package main\nfunc main(){\n}\n", "imports": "true"})
    assert response.json() == {"Body": "package main\nfunc main() {\n}\n", "Error": ""}
    archive = client.post("/fmt", data={"body": "package main\nfunc main(){}\n-- go.mod --\nmodule x\n"}).json()
    assert archive["Body"] == "package main\nfunc main() {}\n-- go.mod --\nmodule x\n"
    native = client.post("/fmt", json={"code": "package main\nfunc main(){\n}\n"}).json()
    assert native["files"]["main.go"] == "package main\nfunc main() {\n}\n"


def test_share_is_content_addressed_and_downloads_as_text(client: TestClient) -> None:
    first = client.post("/share", content=HELLO.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    shared = first.text
    assert re.fullmatch(r"[0-9A-Za-z]{10,}", shared)
    assert client.post("/share", content=HELLO.encode()).text == shared
    assert client.post("/share", content=BROKEN.encode()).text != shared
    for path in (f"/p/{shared}.go", f"/p/{shared}.txtar", f"/share?id={shared}"):
        response = client.get(path)
        assert (response.status_code, response.text) == (200, HELLO), path
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get(f"/p/{shared}?download=1").text == HELLO  # /p/{id} itself is the page: test_web_pages.py
    download = client.get(f"/p/{shared}.go?download=true").headers["content-disposition"]
    assert download == f'attachment; filename="{shared}.go"'
    problem_of(client.get("/p/0123456789ab.go"), 404, "share-not-found")
    problem_of(client.get("/p/not-an-id!.go"), 404, "share-not-found")


def test_a_share_above_the_body_cap_is_413(client: TestClient) -> None:
    problem_of(client.post("/share", content=b"x" * (64 * 1024 + 1)), 413, "payload-too-large")


def test_share_ids_are_stable_and_a_collision_gets_a_longer_id(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(engine)
    shares = ShareStore(engine)
    assert shares.put(b"one", KEYLESS) == share_id(b"one")
    assert len(share_id(b"one")) >= 10
    with engine.begin() as connection:  # another program already holds "two"'s id
        connection.exec_driver_sql(
            "INSERT INTO shares (id, body, created_at) VALUES (?, ?, 0)", (share_id(b"two"), b"other")
        )
    assert shares.put(b"two", KEYLESS) == share_id(b"two", 13)
    assert (shares.get(share_id(b"two", 13)), shares.get(share_id(b"two"))) == (b"two", b"other")


def test_version_keeps_ours_and_adds_the_playgrounds(client: TestClient) -> None:
    version = client.get("/version").json()
    assert {"gosandbox", "go_version", "go_versions", "runtime", "mode"} <= set(version)
    assert version["Version"] == "go0.0-fake"
    assert version["Name"] == "Go 0.0"


# --- CORS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/compile", "/fmt", "/share", "/p/abcdefghij.go", "/version"])
def test_playground_routes_answer_cors_and_preflights(tmp_path: Path, backend: FakeBackend, path: str) -> None:
    settings = make_settings(tmp_path, cors_origins="*")  # any origin: the operator's choice, not the default
    with TestClient(create_app(settings, backend=backend)) as client:
        asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        preflight = client.options(path, headers={"Origin": "https://example.test", **asked})
        answer = client.get(path, headers={"Origin": "https://example.test"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type"
    assert answer.headers["access-control-allow-origin"] == "*"


def test_native_routes_answer_no_cors(client: TestClient) -> None:
    response = client.post("/run", json={"code": HELLO}, headers={"Origin": "https://example.test"})
    assert "access-control-allow-origin" not in response.headers
    assert client.options("/run", headers={"Origin": "https://example.test"}).status_code == 405


def test_a_list_of_origins_names_only_those(tmp_path: Path, backend: FakeBackend) -> None:
    settings = make_settings(tmp_path, cors_origins="https://a.test, https://b.test")
    with TestClient(create_app(settings, backend=backend)) as client:
        allowed = client.get("/version", headers={"Origin": "https://b.test"})
        assert allowed.headers["access-control-allow-origin"] == "https://b.test"
        assert allowed.headers["vary"] == "Origin"
        other = client.options(
            "/compile", headers={"Origin": "https://c.test", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in other.headers
    with TestClient(create_app(make_settings(tmp_path, cors_origins=""), backend=backend)) as client:
        assert "access-control-allow-origin" not in client.get("/version").headers


def test_a_preflight_needs_no_api_key_and_a_401_carries_cors(tmp_path: Path, backend: FakeBackend) -> None:
    settings = make_settings(tmp_path, auth="required", cors_origins="https://x.test")
    with TestClient(create_app(settings, backend=backend)) as client:
        preflight = client.options("/compile", headers={"Origin": "https://x.test",
                                                        "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert preflight.status_code == 204
        refused = client.post("/compile", json={"Body": HELLO}, headers={"Origin": "https://x.test"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://x.test"


# --- the small things -----------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "image/png"])
def test_an_empty_body_of_any_type_runs_the_default_program(client: TestClient, content_type: str) -> None:
    response = client.post("/run", content=b"", headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.json()["default_program"] is True
    problem_of(client.post("/run", content=b"x=1", headers={"Content-Type": content_type}), 415,
               "unsupported-media-type")  # fmt: skip


def test_unknown_paths_are_problems_pointing_to_the_docs(client: TestClient) -> None:
    assert "/docs" in problem_of(client.get("/no/such/page"), 404, "not-found")["detail"]

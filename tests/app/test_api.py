"""The HTTP edge in-process, on the FakeBackend: request forms, problems, readiness, admission."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox._version import __version__
from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.defaults import PREFERRED, isolation, why
from gosandbox.errors import EngineUnreachable, ImageMissing, SandboxFailure
from gosandbox.limits import Limits
from gosandbox.settings import Settings, bundled_example
from support.app_helpers import MAIN, WAIT_S, Gate, make_settings, problem_of, show_binary
from support.responses import AnyResponse
from support.web_bundle import write_bundle

RESULT_FIELDS = {
    "status",
    "exit_code",
    "signal",
    "stdout",
    "stderr",
    "compile_output",
    "truncated",
    "timings_ms",
    "go_version",
    "cached",
    "diagnostics",
    "default_program",
    "cpu_time_ms",
    "peak_memory_kb",
    "message",
    "races",  # null unless the run was built with the race detector (tests/sandbox/test_race.py)
}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(execute=show_binary)


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), backend=backend)) as test_client:
        yield test_client


def result_of(response: AnyResponse) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == RESULT_FIELDS
    return body


# --- the request forms -------------------------------------------------------------------


def test_json_code(client: TestClient, backend: FakeBackend) -> None:
    body = result_of(client.post("/run", json={"code": MAIN}))
    assert body["status"] == "ok"
    assert body["exit_code"] == 0
    assert body["signal"] is None
    assert f"main.go:{MAIN}" in body["stdout"]
    assert body["go_version"] == "go0.0-fake"
    assert body["cached"] is False
    assert set(body["timings_ms"]) == {"compile", "run", "total"}
    [build] = backend.builds
    assert set(build.files) == {"main.go", "go.mod"}


def test_json_files(client: TestClient, backend: FakeBackend) -> None:
    files = {"main.go": MAIN, "util/util.go": "package util\n", "go.mod": "module example.com/x\n\ngo 1.27\n"}
    body = result_of(client.post("/run", json={"files": files}))
    assert body["status"] == "ok"
    assert backend.builds[0].files == files
    assert "util/util.go:package util" in body["stdout"]


def test_json_stdin_args_and_limits_reach_the_backend(client: TestClient, backend: FakeBackend) -> None:
    request = {"code": MAIN, "stdin": "line 1\nline 2\n", "args": ["-n", "2"], "limits": {"wall_s": 2, "pids": 16}}
    body = result_of(client.post("/run", json=request))
    assert body["stderr"] == "line 1\nline 2\n"
    [job] = backend.executions
    assert job.stdin == b"line 1\nline 2\n"
    assert job.args == ("-n", "2")
    assert job.limits == Limits(wall_s=2, memory_mb=128, cpus=1.0, pids=16, output_bytes=65536)


def test_json_with_a_charset_parameter(client: TestClient) -> None:
    response = client.post(
        "/run", content=json.dumps({"code": MAIN}), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert result_of(response)["status"] == "ok"


def test_json_without_a_content_type(client: TestClient) -> None:
    response = client.post("/run", content=json.dumps({"code": MAIN}).encode(), headers={"content-type": ""})
    assert result_of(response)["status"] == "ok"


def test_text_plain_body_is_main_go(client: TestClient, backend: FakeBackend) -> None:
    response = client.post("/run", content=MAIN.encode(), headers={"content-type": "text/plain; charset=utf-8"})
    assert result_of(response)["status"] == "ok"
    assert backend.builds[0].files["main.go"] == MAIN
    assert backend.executions[0].limits == Limits()


def test_no_body_runs_the_default_program(client: TestClient, backend: FakeBackend) -> None:
    body = result_of(client.post("/run"))
    assert (body["status"], body["default_program"]) == ("ok", True)  # the answer says what ran
    assert result_of(client.post("/run", json={"code": MAIN}))["default_program"] is False
    assert f"main.go:{bundled_example('hello.go')}" in body["stdout"]
    assert "Hello from a gosandbox sandbox!" in body["stdout"]
    assert backend.builds[0].files["main.go"] == bundled_example("hello.go")


def test_a_blank_json_body_runs_the_default_program(client: TestClient) -> None:
    response = client.post("/run", content=b" \n", headers={"content-type": "application/json"})
    assert "Hello from a gosandbox sandbox!" in result_of(response)["stdout"]


def test_the_default_program_comes_from_the_settings(tmp_path: Path) -> None:
    program = tmp_path / "mine.go"
    program.write_text("package main // mine\n", encoding="utf-8")
    app = create_app(make_settings(tmp_path, default_program=program), backend=FakeBackend(execute=show_binary))
    with TestClient(app) as client:
        assert "main.go:package main // mine" in result_of(client.post("/run"))["stdout"]


def test_program_output_is_decoded_and_control_characters_are_kept(tmp_path: Path) -> None:
    """Invalid UTF-8 is U+FFFD; control characters (NUL, a terminal escape) reach the client as written."""

    def execute(job: ExecJob) -> ExecOutcome:
        return ExecOutcome(exit_code=0, signal=None, stdout=b"a\x00b\xffc\t\n", stderr=b"\x1b[0m", duration_s=0.0)

    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(execute=execute))) as client:
        response = client.post("/run", json={"code": MAIN})
    body = result_of(response)
    assert body["stdout"] == "a\x00b\ufffdc\t\n"
    assert body["stderr"] == "\x1b[0m"


def test_a_program_failure_is_200_not_5xx(tmp_path: Path) -> None:
    def execute(job: ExecJob) -> ExecOutcome:
        return ExecOutcome(exit_code=2, signal=None, stdout=b"", stderr=b"panic: boom\n", duration_s=0.0)

    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(execute=execute))) as client:
        body = result_of(client.post("/run", json={"code": MAIN}))
    assert body["status"] == "runtime_error"
    assert body["exit_code"] == 2
    assert body["stderr"] == "panic: boom\n"


def test_a_timeout_is_200(tmp_path: Path) -> None:
    def execute(job: ExecJob) -> ExecOutcome:
        return ExecOutcome(exit_code=137, signal=9, stdout=b"", stderr=b"", duration_s=0.0, timed_out=True)

    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(execute=execute))) as client:
        body = result_of(client.post("/run", json={"code": MAIN}))
    assert (body["status"], body["signal"]) == ("timeout", "SIGKILL")


def test_a_compile_error_is_200(tmp_path: Path) -> None:
    def build(job: BuildJob) -> BuildOutcome:
        return BuildOutcome(succeeded=False, output="./main.go:1:1: expected 'package'", binary=None, duration_s=0.0)

    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(build=build))) as client:
        body = result_of(client.post("/run", content=b"nonsense", headers={"content-type": "text/plain"}))
    assert body["status"] == "compile_error"
    assert body["compile_output"] == "./main.go:1:1: expected 'package'"
    assert body["exit_code"] is None


def test_the_binary_cache_serves_the_second_run(tmp_path: Path) -> None:
    backend = FakeBackend()
    with TestClient(create_app(make_settings(tmp_path, binary_cache_mb=1), backend=backend)) as client:
        first = result_of(client.post("/run", json={"code": MAIN}))
        second = result_of(client.post("/run", json={"code": MAIN}))
    assert (first["cached"], second["cached"]) == (False, True)
    assert len(backend.builds) == 1
    assert list((tmp_path / "binaries").glob("*.bin"))


# --- refused requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "name"),
    [
        ({"wall_s": 31}, "wall_s"),
        ({"memory_mb": 4096}, "memory_mb"),
        ({"cpus": 2.5}, "cpus"),
        ({"pids": 257}, "pids"),
        ({"output_bytes": 1024 * 1024 + 1}, "output_bytes"),
    ],
)
def test_limits_above_the_cap(client: TestClient, backend: FakeBackend, limits: dict[str, Any], name: str) -> None:
    problem = problem_of(client.post("/run", json={"code": MAIN, "limits": limits}), 422, "limit-out-of-range")
    assert f"limits.{name}=" in problem["detail"]
    assert problem["title"] == "Limit out of range"
    assert backend.builds == []


@pytest.mark.parametrize("limits", [{"wall_s": -1}, {"memory_mb": -128}, {"pids": 0}, {"output_bytes": -1}])
def test_negative_or_zero_limits(client: TestClient, limits: dict[str, Any]) -> None:
    problem_of(client.post("/run", json={"code": MAIN, "limits": limits}), 422, "limit-out-of-range")


def test_the_caps_come_from_the_settings(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, max_wall_s=2.0), backend=FakeBackend())) as client:
        problem = problem_of(
            client.post("/run", json={"code": MAIN, "limits": {"wall_s": 3}}), 422, "limit-out-of-range"
        )
        assert "[0.1, 2.0]" in problem["detail"]
        assert result_of(client.post("/run", json={"code": MAIN, "limits": {"wall_s": 2}}))["status"] == "ok"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"code": "x"', b"[1, 2]", b"null", b'"code"', b'{"code": "\\ud800"}'],
)
def test_invalid_json(client: TestClient, content: bytes) -> None:
    response = client.post("/run", content=content, headers={"content-type": "application/json"})
    assert "invalid JSON request" in problem_of(response, 422, "invalid-source")["detail"]


@pytest.mark.parametrize(
    "request_body",
    [
        {"code": 5},
        {"code": ["package main"]},
        {"files": ["main.go"]},
        {"files": {"main.go": 1}},
        {"code": MAIN, "stdin": 7},
        {"code": MAIN, "args": "-v"},
        {"code": MAIN, "args": [1]},
        {"code": MAIN, "limits": {"wall_s": "2"}},
        {"code": MAIN, "limits": {"memory_mb": 64.5}},
        {"code": MAIN, "limits": {"memory_mb": True}},
        {"code": MAIN, "limits": {"disk_mb": 1}},
        {"code": MAIN, "unknown": 1},
    ],
)
def test_wrong_types_or_fields(client: TestClient, backend: FakeBackend, request_body: dict[str, Any]) -> None:
    problem_of(client.post("/run", json=request_body), 422, "invalid-source")
    assert backend.builds == []


@pytest.mark.parametrize("request_body", [{"code": MAIN, "files": {"main.go": MAIN}}, {}, {"stdin": "x"}])
def test_exactly_one_of_code_and_files(client: TestClient, request_body: dict[str, Any]) -> None:
    detail = problem_of(client.post("/run", json=request_body), 422, "invalid-source")["detail"]
    assert "exactly one of 'code', 'files' and 'txtar'" in detail


@pytest.mark.parametrize("name", ["../main.go", "/etc/passwd", ".hidden.go", "x.syso", "a\\b.go", "go.work"])
def test_bad_file_names(client: TestClient, backend: FakeBackend, name: str) -> None:
    response = client.post("/run", json={"files": {"main.go": MAIN, name: "package main\n"}})
    problem_of(response, 422, "invalid-source")
    assert backend.builds == []


def test_no_files(client: TestClient) -> None:
    problem_of(client.post("/run", json={"files": {}}), 422, "invalid-source")


def test_a_local_replace_in_go_mod(client: TestClient) -> None:
    files = {"main.go": MAIN, "go.mod": "module x\n\nreplace a => ../../etc\n"}
    problem_of(client.post("/run", json={"files": files}), 422, "invalid-source")


def test_args_with_nul(client: TestClient) -> None:
    problem_of(client.post("/run", json={"code": MAIN, "args": ["a\u0000b"]}), 422, "invalid-source")


def test_non_utf8_text_body(client: TestClient) -> None:
    response = client.post("/run", content=b"package main\n// \xff\xfe\n", headers={"content-type": "text/plain"})
    assert "not valid UTF-8" in problem_of(response, 400, "invalid-request")["detail"]


def test_a_body_over_the_cap_is_413(tmp_path: Path) -> None:
    backend = FakeBackend()
    with TestClient(create_app(make_settings(tmp_path, max_body_bytes=1024), backend=backend)) as client:
        big = client.post("/run", content=b"x" * 1025, headers={"content-type": "text/plain"})
        streamed = client.post(
            "/run", content=iter([b"y" * 700, b"y" * 700]), headers={"content-type": "text/plain"}
        )  # no Content-Length: the cap applies while reading
        fits = client.post("/run", json={"code": "package main\n" + "/" * 900})
    assert "1025 bytes" in problem_of(big, 413, "payload-too-large")["detail"]
    assert "transfer-encoding" in streamed.request.headers
    problem_of(streamed, 413, "payload-too-large")
    assert result_of(fits)["status"] == "ok"
    assert len(backend.builds) == 1


def test_the_smallest_body_cap_is_1024() -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings(max_body_bytes=1023)


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]
)
def test_unsupported_media_type(client: TestClient, content_type: str) -> None:
    response = client.post("/run", content=b"code=x", headers={"content-type": content_type})
    problem = problem_of(response, 415, "unsupported-media-type")
    assert problem["title"] == "Unsupported media type"


def test_compressed_bodies_are_refused(client: TestClient) -> None:
    response = client.post(
        "/run", content=b"\x1f\x8b", headers={"content-type": "application/json", "content-encoding": "gzip"}
    )
    problem_of(response, 415, "unsupported-media-type")


def test_a_backend_failure_is_503(tmp_path: Path) -> None:
    def execute(job: ExecJob) -> ExecOutcome:
        raise SandboxFailure("creating the run sandbox failed")

    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(execute=execute))) as client:
        problem = problem_of(client.post("/run", json={"code": MAIN}), 503, "backend-unavailable")
    assert problem["detail"].startswith("creating the run sandbox failed; ")
    assert "gosandbox doctor" in problem["detail"]


# --- health, readiness, version, schema ---------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_ready(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_when_the_engine_is_unreachable(client: TestClient, backend: FakeBackend) -> None:
    backend.ready_error = EngineUnreachable("cannot connect to unix:///var/run/docker.sock")
    problem = problem_of(client.get("/readyz"), 503, "engine-unreachable")
    assert "Docker" in problem["detail"]
    assert problem["detail"].startswith("cannot connect to unix:///var/run/docker.sock; ")
    # Liveness says nothing of Docker.
    assert client.get("/healthz").status_code == 200


def test_readyz_when_images_are_missing(client: TestClient, backend: FakeBackend) -> None:
    backend.ready_error = ImageMissing("gosandbox-runner:abc is missing")
    assert "gosandbox image build" in problem_of(client.get("/readyz"), 503, "image-missing")["detail"]


def test_version(client: TestClient) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    assert response.json() == {
        "gosandbox": __version__,
        "go_version": "go0.0-fake",
        "go_versions": ["go0.0-fake"],
        "runtime": "runc",
        "backend": "docker",
        "mode": "embedded",
        "isolation": isolation("docker", "runc"),  # what isolates a program there, and why it is in force
        "isolation_reason": why("docker", "runc"),
        "Version": "go0.0-fake",  # the Go Playground's three
        "Release": "go0.0",
        "Name": "Go 0.0",
    }


def test_version_says_what_isolates_a_program_and_why() -> None:
    assert isolation("oci", "runc").startswith("host kernel; namespaces, a user namespace of its own")
    assert "own overlay of the root filesystem" in isolation("oci", "runc")
    assert isolation("oci", "runsc").startswith("gVisor's own kernel")
    assert why(*PREFERRED).startswith("the default: the strongest isolation that keeps every hostile-corpus verdict")
    assert "the stricter choice" in why("oci", "runsc")


def test_openapi(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/run" in schema["paths"]
    assert {"/healthz", "/readyz", "/version"} <= set(schema["paths"])
    schemas = schema["components"]["schemas"]
    assert set(schemas["RunRequest"]["properties"]) == {
        "code",
        "files",
        "txtar",
        "go_version",
        "stdin",
        "args",
        "limits",
        "race",
    }
    assert "LimitsIn" in schemas
    assert "RunResponse" in schemas
    body = schema["paths"]["/run"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunRequest"}
    assert "text/plain" in body["content"]
    assert {"413", "415", "422", "429", "503"} <= set(schema["paths"]["/run"]["post"]["responses"])


def test_the_backend_is_closed_on_shutdown(tmp_path: Path) -> None:
    backend = FakeBackend()
    with TestClient(create_app(make_settings(tmp_path), backend=backend)):
        assert backend.closed is False
    assert backend.closed is True


# --- admission ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def post_in_thread(pool: ThreadPoolExecutor, client: TestClient, stdin: str) -> Future[AnyResponse]:
    return pool.submit(client.post, "/run", json={"code": MAIN, "stdin": stdin})


def test_a_full_server_answers_429_with_retry_after(tmp_path: Path) -> None:
    gate = Gate()
    settings = make_settings(tmp_path, max_concurrent_runs=1, max_queued=0)
    with TestClient(create_app(settings, backend=FakeBackend(execute=gate))) as client, ThreadPoolExecutor(1) as pool:
        try:
            first = post_in_thread(pool, client, "first")
            assert gate.entered.acquire(timeout=WAIT_S), "the first run never started"
            refused = client.post("/run", json={"code": MAIN, "stdin": "second"})
        finally:
            gate.release.set()
        problem = problem_of(refused, 429, "overloaded")
        assert refused.headers["retry-after"] == "1"
        assert "retry after 1 s" in problem["detail"]
        assert result_of(first.result(timeout=WAIT_S))["stdout"] == "first"
        # The slot is free again.
        assert result_of(client.post("/run", json={"code": MAIN, "stdin": "third"}))["stdout"] == "third"


def test_the_queue_holds_runs_until_a_slot_frees(tmp_path: Path) -> None:
    gate = Gate()
    backend = FakeBackend(execute=gate)
    app = create_app(make_settings(tmp_path, max_concurrent_runs=1, max_queued=1), backend=backend)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        try:
            first = post_in_thread(pool, client, "first")
            assert gate.entered.acquire(timeout=WAIT_S), "the first run never started"
            queued = post_in_thread(pool, client, "queued")
            wait_until(lambda: app.state.jobs.dispatcher.waiting == 1)
            refused = client.post("/run", json={"code": MAIN, "stdin": "refused"})
            assert len(backend.executions) == 1
        finally:
            gate.release.set()
        problem_of(refused, 429, "overloaded")
        assert result_of(first.result(timeout=WAIT_S))["stdout"] == "first"
        assert result_of(queued.result(timeout=WAIT_S))["stdout"] == "queued"
    assert [job.stdin for job in backend.executions] == [b"first", b"queued"]


# --- routes that do not exist ---------------------------------------------------------------------


def test_the_front_page_is_the_playground(tmp_path: Path, backend: FakeBackend) -> None:
    settings = make_settings(tmp_path, web_static_dir=write_bundle(tmp_path / "static"))
    with TestClient(create_app(settings, backend=backend)) as client:
        response = client.get("/", follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<div id="playground" data-mode="full"' in response.text  # the rest: tests/test_web_pages.py


def test_an_unknown_path_is_a_404_problem(client: TestClient) -> None:
    problem = problem_of(client.get("/no/such/thing"), 404, "not-found")
    assert "/docs" in problem["detail"]


def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(client: TestClient) -> None:
    response = client.get("/run")
    problem = problem_of(response, 405, "method-not-allowed")
    assert "POST" in problem["detail"]
    assert response.headers["allow"] == "POST"

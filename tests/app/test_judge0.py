"""The Judge0 layer's mappings (tables), and its routes in-process on the FakeBackend.

Verdicts here come from the fake backend's outcomes through the real runner and verdict code; that
real programs get those outcomes is proven by tests/test_docker_judge0.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from judge0.base_types import Config, Language  # type: ignore[import-untyped]  # the SDK ships no types

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.compat.judge0.info import GO, extra_language_id, languages
from gosandbox.compat.judge0.render import (
    ATTRIBUTES,
    CALLBACK_SHAPES,
    DEFAULT_FIELDS,
    decimal,
    from_token,
    requested_fields,
    ruby_base64,
)
from gosandbox.compat.judge0.schemas import Judge0Rejected, arguments, submission_job
from gosandbox.compat.judge0.status import judge0_strip, output_matches, run_status
from gosandbox.errors import SandboxFailure
from gosandbox.jobs.submission import Kind, State, Submission
from gosandbox.jobs.webhooks import callback_of
from support.app_helpers import WAIT_S, Gate, make_settings
from support.webhook_receiver import Receiver, receiving

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'
OFFERED = languages(["go1.27.3", "go1.26-alt"])


# --- tables: statuses, comparison, fields, encodings, limits ---------------------------------------


@pytest.mark.parametrize(
    ("result", "expected", "stdout", "status_id"),
    [
        ({"status": "ok"}, None, "anything", 3),
        ({"status": "ok"}, "hello", "hello\n", 3),
        ({"status": "ok"}, "hello", "bye\n", 4),
        ({"status": "compile_error"}, "hello", None, 6),
        ({"status": "timeout", "signal": "SIGKILL"}, None, None, 5),
        ({"status": "runtime_error", "signal": None, "exit_code": 2}, None, None, 11),
        ({"status": "runtime_error", "signal": "SIGSEGV"}, None, None, 7),
        ({"status": "runtime_error", "signal": "SIGXFSZ"}, None, None, 8),
        ({"status": "runtime_error", "signal": "SIGFPE"}, None, None, 9),
        ({"status": "runtime_error", "signal": "SIGABRT"}, None, None, 10),
        ({"status": "runtime_error", "signal": "SIGKILL"}, None, None, 12),
        ({"status": "memory_limit", "signal": "SIGKILL"}, None, None, 12),
        ({"status": "output_limit", "signal": "SIGKILL"}, "x", "x", 8),
    ],
)
def test_each_verdict_has_its_judge0_status(
    result: dict[str, Any], expected: str | None, stdout: str | None, status_id: int
) -> None:
    assert run_status(result, expected, stdout) == status_id


@pytest.mark.parametrize(
    ("expected", "stdout", "accepted"),
    [
        ("hello", "hello\n", True),
        ("a  \nb\t\n\n\n", "a\nb", True),  # trailing whitespace of each line, and of the whole, is ignored
        ("a\n b", "a\nb", False),  # leading whitespace is not
        ("a\r\nb", "a\nb", True),  # \r is whitespace to Ruby's rstrip
        ("hello\u00a0", "hello", False),  # Ruby strips ASCII whitespace only, not Unicode spaces
        ("x\0", "x", True),  # ... and NUL
        ("", None, False),  # Judge0: an empty stdout is nil, and "" is not nil
        (None, None, True),  # no expected_output: anything is accepted
    ],
)
def test_expected_output_is_compared_as_judge0_compares_it(expected: str | None, stdout: str | None,
                                                           accepted: bool) -> None:  # fmt: skip
    assert output_matches(expected, stdout) is accepted


def test_strip_keeps_inner_blank_lines() -> None:
    assert judge0_strip("a\n\n b \n") == "a\n\n b"


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        (None, DEFAULT_FIELDS),
        ("", DEFAULT_FIELDS),
        ("*", ATTRIBUTES),
        ("stdout,token", ("stdout", "token")),  # in the serializer's order, as Judge0 answers
        ("token, status", ("token", "status")),
    ],
)
def test_fields_select_attributes(raw: str | None, fields: tuple[str, ...]) -> None:
    assert requested_fields(raw) == fields


def test_an_unknown_field_is_a_400_naming_it() -> None:
    with pytest.raises(Judge0Rejected) as refused:
        requested_fields("stdout,bogus,worse")
    assert (refused.value.status_code, refused.value.body) == (400, {"error": "invalid fields: [bogus, worse]"})


def test_base64_is_laid_out_as_ruby_does() -> None:
    data = bytes(range(100))
    encoded = ruby_base64(data)
    lines = encoded.split("\n")
    assert [len(line) for line in lines] == [60, 60, 16, 0]  # 136 characters in lines of 60, each ending in \n
    assert base64.b64decode(encoded) == data
    assert ruby_base64(b"") == ""


@pytest.mark.parametrize(("seconds", "shown"), [(0.012, "0.012"), (5, "5.0"), (0.1, "0.1"), (None, None)])
def test_times_are_decimal_strings(seconds: float | None, shown: str | None) -> None:
    assert decimal(seconds) == shown


def test_tokens_are_uuids_of_our_ids() -> None:
    submission_id = "0123456789abcdef0123456789abcdef"
    assert from_token("01234567-89ab-cdef-0123-456789abcdef") == submission_id
    assert from_token(submission_id.upper()) == submission_id
    assert from_token("not-a-token") is None


def test_language_ids_are_60_then_stable_per_toolchain() -> None:
    default = OFFERED[0]
    assert (default.id, default.name, default.go_version) == (GO, "Go (1.27.3)", None)
    extra = OFFERED[1]
    assert (extra.id, extra.name, extra.go_version) == (extra_language_id("go1.26-alt", {GO}), "Go (1.26-alt)",
                                                        "go1.26-alt")  # fmt: skip
    assert 1000 <= extra.id < 10000
    assert languages(["go1.27.3", "go1.26-alt"]) == OFFERED  # the same on every call (and server)
    assert extra_language_id("go1.26-alt", {GO, extra.id}) != extra.id  # a collision moves on


@pytest.mark.parametrize(
    ("raw", "args"),
    [
        ("a 'b c' \"d e\"", ("a", "b c", "d e")),
        ("x; rm -rf / | cat > out", ("x", "rm", "-rf", "/", "cat", "out")),  # Judge0 removes $&;<>|` first
        ("", ()),
    ],
)
def test_command_line_arguments_are_split_as_a_shell_would(raw: str, args: tuple[str, ...]) -> None:
    errors: dict[str, list[str]] = {}
    assert arguments(raw, errors) == args
    assert errors == {}


def _job(tmp_path: Path, **fields: Any) -> Any:
    return submission_job({"source_code": HELLO, "language_id": GO, **fields}, False, make_settings(tmp_path), OFFERED)


@pytest.mark.parametrize(
    ("fields", "limit", "value"),
    [
        ({"cpu_time_limit": 2, "wall_time_limit": 3}, "wall_s", 3.0),
        ({"cpu_time_limit": 2, "wall_time_limit": 3}, "cpu_ms", 2000),  # CPU time, held by the sandbox
        ({"cpu_time_limit": 0.0101}, "cpu_ms", 11),  # rounded up to whole milliseconds
        ({}, "cpu_ms", None),  # no CPU-time limit unless asked: the wall one holds
        ({"wall_time_limit": "1.5"}, "wall_s", 1.5),  # a numeric string, as Rails reads it
        ({"memory_limit": 65536}, "memory_mb", 64),
        ({"memory_limit": 65537}, "memory_mb", 65),  # KB rounded up to whole MiB
        ({"max_processes_and_or_threads": 32}, "pids", 32),
        ({"max_file_size": 10}, "output_bytes", 10240),
        ({}, "wall_s", 5.0),  # the server's defaults
    ],
)
def test_limits_are_translated_to_ours(tmp_path: Path, fields: dict[str, Any], limit: str, value: float | None) -> None:
    job, _ = _job(tmp_path, **fields)
    assert getattr(job.spec.limits, limit) == value


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cpu_time_limit": 10_000}, "cpu_time_limit", "outside the allowed range"),  # past wall_s * cpus
        ({"cpu_time_limit": 0.001}, "cpu_time_limit", "outside the allowed range"),
        ({"wall_time_limit": 0.01}, "wall_time_limit", "outside the allowed range"),
        ({"memory_limit": 4 * 1024 * 1024}, "memory_limit", "asked: 4194304 KB"),
        ({"max_processes_and_or_threads": 100000}, "max_processes_and_or_threads", "outside"),
        ({"memory_limit": "lots"}, "memory_limit", "is not a number"),
        ({"compiler_options": "-O2"}, "compiler_options", "setting compiler options is not allowed"),
        ({"additional_files": "UEsDBA=="}, "additional_files", "setting additional files is not allowed"),
        ({"enable_network": True}, "enable_network", "enabling network is not allowed"),
        ({"enable_per_process_and_thread_time_limit": "true"}, "enable_per_process_and_thread_time_limit", "cannot"),
        ({"number_of_runs": 3}, "number_of_runs", "must be less than or equal to 1"),
        ({"stack_limit": 10**9}, "stack_limit", "must be less than or equal to 128000"),
        ({"command_line_arguments": "x" * 513}, "command_line_arguments", "is too long"),
        ({"command_line_arguments": "'open"}, "command_line_arguments", "No closing quotation"),
        ({"language_id": 61}, "language_id", "language with id 61 doesn't exist"),
        ({"language_id": None}, "language_id", "can't be blank"),
        ({"source_code": "  \n"}, "source_code", "can't be blank"),
    ],
)
def test_what_judge0_or_our_caps_refuse_is_a_422_naming_the_field(tmp_path: Path, fields: dict[str, Any],
                                                                    field: str, message: str) -> None:  # fmt: skip
    with pytest.raises(Judge0Rejected) as refused:
        _job(tmp_path, **fields)
    assert refused.value.status_code == 422
    assert list(refused.value.body) == [field]
    assert message in refused.value.body[field][0]


def test_an_extra_language_id_asks_for_its_toolchain(tmp_path: Path) -> None:
    job, _ = _job(tmp_path, language_id=OFFERED[1].id)
    assert job.spec.go_version == "go1.26-alt"
    assert _job(tmp_path)[0].spec.go_version is None


def test_base64_input_is_decoded(tmp_path: Path) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in
               {"source_code": HELLO, "stdin": "in\n", "expected_output": "out"}.items()}  # fmt: skip
    job, _ = submission_job({**encoded, "language_id": 60}, True, make_settings(tmp_path), OFFERED)
    assert (job.spec.files["main.go"], job.spec.stdin) == (HELLO, b"in\n")
    assert (job.compat or {})["judge0"]["expected_output"] == "out"


# --- the routes, above a fake backend ----------------------------------------------------------------


def _build(job: BuildJob) -> BuildOutcome:
    if "BROKEN" in job.files["main.go"]:
        return BuildOutcome(succeeded=False, output="./main.go:3:1: syntax error: BROKEN", binary=None, duration_s=0.0)
    return BuildOutcome(succeeded=True, output="", binary=b"binary", duration_s=0.0)


#: stdin names the outcome the fake program has.
_OUTCOMES = {
    b"nzec": ExecOutcome(3, None, b"", b"bad\n", 0.01, cpu_time_ms=7),
    b"segv": ExecOutcome(139, signal.SIGSEGV, b"", b"", 0.01),  # a code of 128 + signal is not shown
    b"slow": ExecOutcome(None, signal.SIGKILL, b"", b"", 2.0, timed_out=True),
    b"oom": ExecOutcome(None, signal.SIGKILL, b"", b"", 0.1, oom_killed=True, peak_memory_kb=131072),
    b"flood": ExecOutcome(None, signal.SIGKILL, b"y" * 100, b"", 0.1, output_exceeded=True),
    b"both": ExecOutcome(0, None, b"out\n", b"err\n", 0.01),
}


def _execute(job: ExecJob) -> ExecOutcome:
    default = ExecOutcome(0, None, job.stdin, b"", 0.012, cpu_time_ms=12, peak_memory_kb=2048)
    return _OUTCOMES.get(job.stdin.strip(), default)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the route tests (each reads only the submissions it made)."""
    backend = FakeBackend(build=_build, execute=_execute)
    settings = make_settings(tmp_path_factory.mktemp("judge0"), max_queued=50)
    with TestClient(create_app(settings, backend=backend)) as test_client:
        yield test_client


def _run(client: TestClient, query: str = "wait=true", **fields: Any) -> dict[str, Any]:
    response = client.post(f"/judge0/submissions?{query}", json={"source_code": HELLO, "language_id": 60, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_sdks_reads_parse_as_its_own_models(client: TestClient) -> None:
    Config(**client.get("/judge0/config_info").json())  # every field the SDK requires, of its type
    assert [Language(**x).id for x in client.get("/judge0/languages").json()] == [60]
    assert client.get("/judge0/about").json()["version"] == "1.13.1"
    statuses = client.get("/judge0/statuses").json()
    assert [s["id"] for s in statuses] == list(range(1, 15))
    assert statuses[10] == {"id": 11, "description": "Runtime Error (NZEC)"}
    assert client.get("/judge0/languages/60").json()["source_file"] == "main.go"
    assert client.get("/judge0/languages/61").status_code == 404


def test_without_wait_the_answer_is_the_token_alone(client: TestClient) -> None:
    created = _run(client, "wait=false&fields=*")
    assert list(created) == ["token"]
    assert from_token(created["token"]) is not None


def test_wait_answers_with_the_default_fields(client: TestClient) -> None:
    done = _run(client, stdin="hello\n", expected_output="hello")
    assert list(done) == list(DEFAULT_FIELDS)
    assert done["status"] == {"id": 3, "description": "Accepted"}
    assert (done["stdout"], done["stderr"], done["compile_output"], done["message"]) == ("hello\n", None, None, None)
    assert (done["time"], done["memory"]) == ("0.012", 2048)  # cpu_time_ms and peak_memory_kb


def test_a_wrong_answer_is_4(client: TestClient) -> None:
    assert _run(client, stdin="hello\n", expected_output="goodbye")["status"]["id"] == 4


@pytest.mark.parametrize(
    ("stdin", "status_id", "exit_code", "exit_signal"),
    [("nzec", 11, 3, None), ("segv", 7, 0, 11), ("slow", 5, 0, 9), ("oom", 12, 0, 9), ("flood", 8, 0, 9)],
)
def test_failures_map_to_statuses_with_a_message(client: TestClient, stdin: str, status_id: int, exit_code: int,
                                                 exit_signal: int | None) -> None:  # fmt: skip
    done = _run(client, "wait=true&fields=status,exit_code,exit_signal,message", stdin=stdin)
    assert (done["status"]["id"], done["exit_code"], done["exit_signal"]) == (status_id, exit_code, exit_signal)
    assert done["message"]  # one plain sentence saying why


def test_a_compile_error_has_its_output_and_no_run(client: TestClient) -> None:
    done = _run(client, "wait=true&fields=*", source_code="package main\n\nBROKEN\n")
    assert done["status"] == {"id": 6, "description": "Compilation Error"}
    assert "syntax error" in done["compile_output"]
    assert [done[k] for k in ("stdout", "time", "memory", "exit_code", "message")] == [None] * 5


def test_base64_goes_both_ways(client: TestClient) -> None:
    sent = {"source_code": base64.b64encode(HELLO.encode()).decode(), "stdin": base64.b64encode(b"hi\n").decode()}
    done = _run(client, "wait=true&base64_encoded=true&fields=stdout,stdin,message,status", **sent)
    assert base64.b64decode(done["stdout"]) == b"hi\n"
    assert done["stdout"] == "aGkK\n"  # Ruby's layout: each line ends in a newline
    assert base64.b64decode(done["stdin"]) == b"hi\n"
    plain = client.get(f"/judge0/submissions/{_run(client, 'wait=false')['token']}?fields=source_code").json()
    assert plain == {"source_code": HELLO}


def test_redirect_stderr_to_stdout_puts_both_in_stdout(client: TestClient) -> None:
    done = _run(client, stdin="both", redirect_stderr_to_stdout=True)
    assert (done["stdout"], done["stderr"]) == ("out\nerr\n", None)


def test_get_by_token_dashed_or_not_and_unknown_is_404(client: TestClient) -> None:
    token = _run(client)["token"]
    assert client.get(f"/judge0/submissions/{token}").json()["token"] == token
    assert client.get(f"/judge0/submissions/{token.replace('-', '')}").status_code == 200
    assert client.get("/judge0/submissions/00000000-0000-4000-8000-000000000000").status_code == 404
    assert client.get("/judge0/submissions/nope").status_code == 404


def test_a_batch_takes_the_valid_items_and_answers_errors_for_the_others(client: TestClient) -> None:
    items = [{"source_code": HELLO, "language_id": 60}, {"source_code": HELLO, "language_id": 1}]
    response = client.post("/judge0/submissions/batch", json={"submissions": items})
    assert response.status_code == 201
    first, second = response.json()
    assert list(first) == ["token"]
    assert second == {"language_id": ["language with id 1 doesn't exist"]}
    only_bad = client.post("/judge0/submissions/batch", json={"submissions": items[1:]})
    assert only_bad.status_code == 422


@pytest.mark.parametrize("count", [0, 21])
def test_a_batch_of_none_or_too_many_is_400(client: TestClient, count: int) -> None:
    items = [{"source_code": HELLO, "language_id": 60}] * count
    response = client.post("/judge0/submissions/batch", json={"submissions": items})
    assert response.status_code == 400
    assert "error" in response.json()


class HeldBuilds:
    """A build handler that holds every build until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, job: BuildJob) -> BuildOutcome:
        self.entered.release()
        if not self.release.wait(WAIT_S):
            raise SandboxFailure("the test never released the build")
        return _build(job)


def _batch_statuses(client: TestClient, tokens: list[str]) -> list[int]:
    got = client.get(f"/judge0/submissions/batch?tokens={','.join(tokens)}&fields=status").json()
    return [s["status"]["id"] for s in got["submissions"]]


def _until(client: TestClient, tokens: list[str], done: Any) -> list[int]:
    deadline = time.monotonic() + WAIT_S
    while not done(statuses := _batch_statuses(client, tokens)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return statuses


@pytest.mark.parametrize(("source", "status_id"), [(HELLO, 3), ("BROKEN", 6)], ids=["built", "compile_error"])
def test_a_batch_of_one_source_builds_once(tmp_path: Path, source: str, status_id: int) -> None:
    """All five jobs start while the first build is held: without a single flight each would build."""
    held = HeldBuilds()
    backend = FakeBackend(build=held, execute=_execute)
    settings = make_settings(tmp_path, binary_cache_mb=1, max_concurrent_runs=5, max_queued=10)
    items = [{"source_code": source, "language_id": 60, "stdin": f"{i}\n"} for i in range(5)]
    with TestClient(create_app(settings, backend=backend)) as client:
        try:
            tokens = [t["token"] for t in client.post("/judge0/submissions/batch", json={"submissions": items}).json()]
            assert held.entered.acquire(timeout=WAIT_S)
            assert _until(client, tokens, lambda ids: ids == [2] * 5) == [2] * 5  # all five are past the queue
        finally:
            held.release.set()
        assert _until(client, tokens, lambda ids: 2 not in ids and 1 not in ids) == [status_id] * 5
    assert len(backend.builds) == 1


def test_a_batch_read_keeps_the_order_and_nulls_unknown_tokens(client: TestClient) -> None:
    first, second = _run(client)["token"], _run(client, stdin="nzec")["token"]
    unknown = "00000000-0000-4000-8000-000000000000"
    got = client.get(f"/judge0/submissions/batch?tokens={second},{unknown},{first}&fields=token,status").json()
    assert [s and s["token"] for s in got["submissions"]] == [second, None, first]
    assert [s and s["status"]["id"] for s in got["submissions"]] == [11, None, 3]
    assert client.get("/judge0/submissions/batch?tokens=").status_code == 400


def test_delete_removes_a_finished_submission(client: TestClient) -> None:
    token = _run(client, stdin="bye\n")["token"]
    deleted = client.delete(f"/judge0/submissions/{token}")
    assert deleted.status_code == 200
    assert deleted.json()["stdout"] == "YnllCg==\n"  # Base64 forced, as Judge0 does
    assert client.get(f"/judge0/submissions/{token}").status_code == 404
    assert client.delete(f"/judge0/submissions/{token}").status_code == 404


def test_a_callback_to_a_host_not_allowed_is_422(client: TestClient) -> None:
    response = client.post("/judge0/submissions", json={"source_code": HELLO, "language_id": 60,
                                                        "callback_url": "http://127.0.0.1:9/hook"})  # fmt: skip
    assert response.status_code == 422
    assert list(response.json()) == ["callback_url"]


@pytest.mark.parametrize(
    ("body", "says"),
    [(b"{nope", "not valid JSON"), (b"[" * 5000 + b"]" * 5000, "nested too deeply")],
)
def test_a_body_that_is_not_json_or_too_much_of_it_is_400(client: TestClient, body: bytes, says: str) -> None:
    response = client.post("/judge0/submissions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert says in response.json()["error"]


def test_a_form_post_is_read_as_rails_reads_it(client: TestClient) -> None:
    response = client.post("/judge0/submissions?wait=true", data={"source_code": HELLO, "language_id": "60"})
    assert response.status_code == 201
    assert response.json()["status"]["id"] == 3


def test_delete_cancels_a_running_submission_and_it_shows_as_an_internal_error(tmp_path: Path) -> None:
    gate = Gate()
    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend(execute=gate))) as client:
        try:
            token = _run(client, "wait=false")["token"]
            assert gate.entered.acquire(timeout=WAIT_S)  # it runs
            running = client.get(f"/judge0/submissions/{token}?fields=status").json()
            assert running == {"status": {"id": 2, "description": "Processing"}}
            cancelled = client.delete(f"/judge0/submissions/{token}?fields=status,message")
        finally:
            gate.release.set()
        assert cancelled.status_code == 200
        assert cancelled.json()["status"]["id"] == 13
        assert base64.b64decode(cancelled.json()["message"]).startswith(b"cancelled")
        assert client.get(f"/judge0/submissions/{token}?fields=status").json()["status"]["id"] == 13  # kept


# --- callbacks: Judge0's PUT of Judge0's JSON ----------------------------------------------------------

#: ``SubmissionSerializer.default_fields``, what Judge0 1.13.1's ``IsolateJob#call_callback`` sends.
JUDGE0_CALLBACK_FIELDS = "token,time,memory,stdout,stderr,compile_output,message,status"
CALLBACK_SECRET = "judge0-callback-secret"
HELLO_BASE64 = base64.b64encode(HELLO.encode()).decode()


@pytest.fixture(scope="module")
def calling_back(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Receiver]]:
    backend = FakeBackend(build=_build, execute=_execute)
    with receiving() as receiver:
        settings = make_settings(tmp_path_factory.mktemp("judge0-callbacks"), callback_hosts=receiver.host,
                                 callback_secret=CALLBACK_SECRET)  # fmt: skip
        with TestClient(create_app(settings, backend=backend)) as test_client:
            yield test_client, receiver


@pytest.mark.parametrize(
    ("case", "query", "fields", "status_id"),
    [
        ("accepted", "", {"stdin": "hi\n"}, 3),
        ("accepted-base64-asked", "base64_encoded=true", {"stdin": "aGkK", "source_code": HELLO_BASE64}, 3),
        ("wrong-answer", "", {"stdin": "hi\n", "expected_output": "bye"}, 4),
        ("nzec", "", {"stdin": "nzec"}, 11),
        ("compile-error", "", {"source_code": "BROKEN"}, 6),
        ("redirected", "", {"stdin": "both", "redirect_stderr_to_stdout": True}, 3),
    ],
)
def test_a_callback_is_judge0s_put_of_what_get_shows(
    calling_back: tuple[TestClient, Receiver], case: str, query: str, fields: dict[str, Any], status_id: int
) -> None:
    client, receiver = calling_back
    token = _run(client, query, callback_url=f"http://{receiver.host}/{case}", **fields)["token"]
    callback = receiver.wait_for(f"/{case}")
    shown = client.get(f"/judge0/submissions/{token}?base64_encoded=true&fields={JUDGE0_CALLBACK_FIELDS}").json()
    assert callback.method == "PUT"
    assert json.loads(callback.body) == shown
    assert list(json.loads(callback.body)) == JUDGE0_CALLBACK_FIELDS.split(",")
    assert shown["status"]["id"] == status_id
    signed = callback.timestamp.encode() + b"." + callback.body
    assert callback.signature == "sha256=" + hmac.new(CALLBACK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    recorded = _recorded_outcome(client, token)
    assert (recorded["delivered"], recorded["attempts"], recorded["status_code"]) == (True, 1, 200)


def _recorded_outcome(client: TestClient, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        outcome: dict[str, Any] | None = client.get(f"/submissions/{from_token(token)}").json()["callback"]
        if outcome is not None:
            return outcome
        time.sleep(0.01)
    raise AssertionError("no callback outcome recorded")


def test_a_shape_not_known_falls_back_to_our_post_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    submission = Submission("a" * 32, Kind.RUN, State.DONE, {"compat": {"callback_shape": "nobody"}}, 0.0)
    with caplog.at_level(logging.WARNING, logger="gosandbox.jobs.webhooks"):
        assert callback_of(submission, CALLBACK_SHAPES) == ("POST", submission.public())
    assert "'nobody' is not known" in caplog.text


def test_the_workers_webhooks_carry_judge0s_shape_in_a_fresh_process(tmp_path: Path) -> None:
    """``gosandbox worker`` ends jobs without the API loaded: the webhooks the assembly gives it know Judge0's PUT."""
    probe = ("import sys\n"
             "from gosandbox.settings import Settings\n"
             "from gosandbox.wiring import job_end, open_store, event_log\n"
             "settings = Settings(state_dir=sys.argv[1])\n"
             "end = job_end(settings, open_store(settings), event_log(settings))\n"
             "print(end.webhooks.shapes['judge0'].method, 'gosandbox.app' in sys.modules)")  # fmt: skip
    ran = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=60,
                         check=False)  # fmt: skip
    assert (ran.returncode, ran.stdout.strip()) == (0, "PUT False"), ran.stderr

"""The official Judge0 Python SDK (``judge0`` 0.0.8 from PyPI) against a live ``gosandbox serve``, real Docker.

The SDK is used as its users use it: ``judge0.Client(<our URL>/judge0)``, ``judge0.run`` (single, and with
test cases, which it sends as a batch and polls as a batch), ``judge0.async_run`` + ``judge0.wait`` (a
submission without ``wait``, then polling), ``judge0.GO`` mapped to id 60 by the version ``/about`` reports.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import judge0  # type: ignore[import-untyped]  # the SDK ships no types
import pytest

from support.docker_helpers import TEST_INSTANCE, Server, serving
from support.webhook_receiver import Receiver, receiving

INSTANCE = f"{TEST_INSTANCE}-judge0"
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'
SQUARE = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar n int\n\tfmt.Scan(&n)\n\tfmt.Println(n * n)\n}\n'
ENDLESS = "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n"
PANICS = 'package main\n\nfunc main() {\n\tpanic("boom")\n}\n'
BROKEN = "package main\n\nfunc main() {\n\tundefinedThing()\n}\n"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Server]:
    env = {"GOSANDBOX_CALLBACK_HOSTS": receiver.host, "GOSANDBOX_CALLBACK_SECRET": "e2e"}
    with serving(tmp_path_factory.mktemp("judge0"), INSTANCE, env) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    """The SDK's client: its constructor reads /languages and /config_info (it fails if either is wrong)."""
    return judge0.Client(f"{server.url}/judge0")


def test_run_maps_go_to_60_and_answers_accepted(client: Any) -> None:
    assert client.get_language_id(judge0.GO) == 60
    assert client.is_language_supported(judge0.GO)
    result = judge0.run(source_code=HELLO, language=judge0.GO, client=client)
    assert result.status == judge0.Status.ACCEPTED
    assert (result.stdout, result.stderr, result.exit_code) == ("hello\n", None, 0)
    assert 0 < (result.time or 0) < 1  # seconds of CPU, from cpu_time_ms
    assert (result.memory or 0) > 0  # KB, from peak_memory_kb
    assert None not in (result.wall_time, result.created_at, result.finished_at)
    assert str(result.token).count("-") == 4  # a UUID, as Judge0's tokens


def test_stdin_reaches_the_program(client: Any) -> None:
    result = judge0.run(source_code=SQUARE, language=judge0.GO, stdin="12\n", client=client)
    assert (result.status, result.stdout) == (judge0.Status.ACCEPTED, "144\n")


def test_a_compile_error_is_status_6_with_the_compilers_output(client: Any) -> None:
    result = judge0.run(source_code=BROKEN, language=judge0.GO, client=client)
    assert result.status == judge0.Status.COMPILATION_ERROR
    assert "undefined: undefinedThing" in result.compile_output
    assert (result.stdout, result.time, result.exit_code) == (None, None, None)


def test_a_program_past_its_time_limit_is_status_5(client: Any) -> None:
    started = time.monotonic()
    result = judge0.run(source_code=ENDLESS, language=judge0.GO, cpu_time_limit=1, client=client)
    assert result.status == judge0.Status.TIME_LIMIT_EXCEEDED
    assert result.message  # plain words: why it was stopped
    assert time.monotonic() - started < 15


def test_a_panic_is_nzec_with_its_exit_code_and_stderr(client: Any) -> None:
    result = judge0.run(source_code=PANICS, language=judge0.GO, client=client)
    assert (result.status, result.exit_code) == (judge0.Status.RUNTIME_ERROR_NZEC, 2)
    assert "panic: boom" in result.stderr


def _cache_lookups(server: Server) -> dict[str, float]:
    """The server's binary-cache lookups by result: a miss is a build (waiters on a build in flight look nothing up)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.findall(r'^gosandbox_binary_cache_lookups_total\{result="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return {result: float(count) for result, count in found}


def test_test_cases_give_per_case_verdicts_time_and_memory_from_one_build(server: Server, client: Any) -> None:
    source = SQUARE + "\n// test_cases\n"  # no earlier test built it
    before = _cache_lookups(server)
    cases = [judge0.TestCase("3\n", "9"), judge0.TestCase("4\n", "17"), ("5", "25\n\n")]
    results = judge0.run(source_code=source, language=judge0.GO, test_cases=cases, client=client)
    assert [r.status for r in results] == [judge0.Status.ACCEPTED, judge0.Status.WRONG_ANSWER, judge0.Status.ACCEPTED]
    assert [r.stdout for r in results] == ["9\n", "16\n", "25\n"]
    assert all(0 < r.time < 1 and 0 < r.memory < 64 * 1024 for r in results)  # CPU seconds, KB: each case's own
    after = _cache_lookups(server)
    assert after.get("miss", 0) - before.get("miss", 0) == 1  # one build for the three cases


def test_several_submissions_at_once(client: Any) -> None:
    submissions = [judge0.Submission(source_code=HELLO, language=judge0.GO),
                   judge0.Submission(source_code=BROKEN, language=judge0.GO)]  # fmt: skip
    results = judge0.run(submissions=submissions, client=client)
    assert [r.status for r in results] == [judge0.Status.ACCEPTED, judge0.Status.COMPILATION_ERROR]


def test_async_run_then_wait_polls_until_done(client: Any) -> None:
    submission = judge0.async_run(source_code=HELLO, language=judge0.GO, client=client)
    assert submission.token is not None
    assert submission.status is None  # the answer to a create without wait is the token alone
    done = judge0.wait(client=client, submissions=submission, retry_strategy=judge0.MaxWaitTime(30))
    assert (done.status, done.stdout) == (judge0.Status.ACCEPTED, "hello\n")


def test_delete_removes_a_finished_submission(server: Server, client: Any) -> None:
    done = judge0.run(source_code=HELLO, language=judge0.GO, client=client)
    url = f"{server.url}/judge0/submissions/{done.token}"
    deleted = httpx.delete(url, timeout=10)
    assert deleted.status_code == 200
    assert deleted.json()["status"]["id"] == 3
    assert httpx.get(url, timeout=10).status_code == 404


def test_a_callback_url_gets_judge0s_put_with_base64_output(server: Server, receiver: Receiver) -> None:
    asked = {"source_code": HELLO, "language_id": 60, "callback_url": f"http://{receiver.host}/e2e"}
    created = httpx.post(f"{server.url}/judge0/submissions", json=asked, timeout=10)
    assert created.status_code == 201, created.text
    callback = receiver.wait_for("/e2e", timeout_s=60)
    body = json.loads(callback.body)
    assert callback.method == "PUT"
    assert body["token"] == created.json()["token"]
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert base64.b64decode(body["stdout"]) == b"hello\n"

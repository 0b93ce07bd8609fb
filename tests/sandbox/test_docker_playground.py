"""The Go Playground layer against a live ``gosandbox serve`` on the real engine, called exactly as the
Playground's JavaScript transport (``playground.js``) calls it and read the way it reads the answers:
``$.ajax`` posts ``{version: 2, body, withVet}`` as a form (then the same as JSON), the page concatenates
``Events``, marks lines by ``/prog.go:([0-9]+)/g`` in ``Errors``, plays back output when ``Errors`` is
``"process took too long"``; /fmt gets ``{body, imports: "true"}``; /share gets the raw text."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.docker_helpers import TEST_INSTANCE, Server, serving

INSTANCE = f"{TEST_INSTANCE}-playground"
LINE_MARK = re.compile(r"prog.go:([0-9]+)")  # playground.js lineHighlight
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, 世界")\n}\n'
BROKEN = "package main\n\nfunc main() {\n\tx := 1\n}\n"
ENDLESS = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("started")\n\tfor {\n\t}\n}\n'
TESTS = (
    'package main\n\nimport "testing"\n\nfunc TestOK(t *testing.T) {}\n\n'
    'func TestBad(t *testing.T) {\n\tt.Error("wrong")\n}\n'
)
VET = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Printf("%d\\n", "text")\n}\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"GOSANDBOX_DEFAULT_WALL_S": "2", "GOSANDBOX_CORS_ORIGINS": "https://go.dev"}  # the page's origin, listed
    with serving(tmp_path_factory.mktemp("playground"), INSTANCE, env) as server:
        yield server


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    headers = {"Origin": "https://go.dev", "X-Requested-With": "XMLHttpRequest"}
    with httpx.Client(base_url=server.url, timeout=60, headers=headers) as client:
        yield client


def compile_form(http: httpx.Client, body: str, with_vet: bool = True) -> dict[str, Any]:
    """``$.ajax('/compile', {type: 'POST', data: {version: 2, body, withVet}, dataType: 'json'})``."""
    response = http.post("/compile", data={"version": "2", "body": body, "withVet": "true" if with_vet else "false"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "https://go.dev"
    answer: dict[str, Any] = response.json()
    return answer


def shown(answer: dict[str, Any]) -> str:
    """What playback() prints: every Event's Message, in order."""
    return "".join(event["Message"] for event in answer.get("Events") or [])


def test_hello_as_a_form_then_as_json(http: httpx.Client) -> None:
    answer = compile_form(http, HELLO)
    assert (answer["Errors"], shown(answer), answer["Status"], answer["IsTest"]) == ("", "Hello, 世界\n", 0, False)
    assert answer["VetOK"] is True
    assert [event["Kind"] for event in answer["Events"]] == ["stdout"]
    as_json = http.post("/compile", json={"Body": HELLO, "WithVet": False}).json()
    assert (as_json["Errors"], shown(as_json)) == ("", "Hello, 世界\n")
    assert "VetOK" not in as_json


def test_a_compile_error_marks_its_line(http: httpx.Client) -> None:
    answer = compile_form(http, BROKEN)
    assert answer["Errors"] != "process took too long"  # buildFailed(), not playback()
    assert LINE_MARK.findall(answer["Errors"]) == ["4"], answer["Errors"]
    assert "declared and not used" in answer["Errors"]
    assert answer["Events"] is None


def test_a_timeout_plays_back_what_came_before(http: httpx.Client) -> None:
    started = time.monotonic()
    answer = compile_form(http, ENDLESS, with_vet=False)
    assert answer["Errors"] == "process took too long"
    assert shown(answer) == "started\n"
    assert time.monotonic() - started < 15


def test_a_test_body_runs_as_tests(http: httpx.Client) -> None:
    answer = compile_form(http, TESTS, with_vet=False)
    assert (answer["Errors"], answer["IsTest"], answer["TestsFailed"]) == ("", True, 1), answer
    output = shown(answer)
    assert "--- PASS: TestOK" in output
    assert "--- FAIL: TestBad" in output
    assert "wrong" in output


def test_vet_errors_mark_their_line(http: httpx.Client) -> None:
    answer = compile_form(http, VET)
    assert shown(answer) == "%!d(string=text)\n"
    assert LINE_MARK.findall(answer["VetErrors"]) == ["6"], answer["VetErrors"]
    assert "wrong type" in answer["VetErrors"]


def test_fmt_as_the_page_sends_it(http: httpx.Client) -> None:
    response = http.post("/fmt", data={"body": "package main\nimport \"fmt\"\nfunc main(){fmt.Println(1)}\n",
                                       "imports": "true"})  # fmt: skip
    assert response.json() == {"Body": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(1) }\n', "Error": ""}
    bad = http.post("/fmt", data={"body": "package main\nfunc main() {\n", "imports": "true"}).json()
    assert bad["Body"] == ""
    assert LINE_MARK.findall(bad["Error"])


def test_share_then_load_the_source(http: httpx.Client) -> None:
    """``$.ajax('/share', {processData: false, data: body, type: 'POST', contentType: 'text/plain; ...'})``."""
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    shared = http.post("/share", content=HELLO.encode(), headers=headers)
    assert shared.status_code == 200
    assert re.fullmatch(r"[0-9A-Za-z]{10,}", shared.text)
    assert http.post("/share", content=HELLO.encode(), headers=headers).text == shared.text
    source = http.get(f"/p/{shared.text}.go")
    assert (source.status_code, source.text) == (200, HELLO)
    assert source.headers["content-type"] == "text/plain; charset=utf-8"
    assert compile_form(http, source.text, with_vet=False)["Events"][0]["Message"] == "Hello, 世界\n"


def test_version_names_the_release(http: httpx.Client) -> None:
    version = http.get("/version").json()
    assert version["Version"] == version["go_version"]
    assert re.fullmatch(r"go1\.\d+", version["Release"])
    assert version["Name"] == "Go " + version["Release"].removeprefix("go")

"""Hostile requests: each is refused early, with a clear problem document, before any sandbox work.

Issue "Hostile programs, faults and bad input", part 3. ``tests/test_api.py`` checks the request
forms and the status of a few refusals; here every hostile input is also checked for the quality
of the answer (``application/problem+json``, a short human sentence that neither echoes the input
nor leaks server paths) and for reaching neither the builder nor a run sandbox.

The exceptions, where the input is *not* refused early, are documented in their tests: NUL bytes
inside a source file and ``go``/``toolchain`` lines of go.mod go on to the compiler (which refuses
them: see ``tests/test_docker_bad_input.py``), and a duplicated JSON key keeps its last value.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.settings import Settings
from support.responses import AnyResponse

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'
MAIN_JSON = json.dumps(MAIN)
JSON = {"content-type": "application/json"}
TEXT = {"content-type": "text/plain; charset=utf-8"}

BAD_REQUEST, TOO_LARGE, UNSUPPORTED, UNPROCESSABLE = 400, 413, 415, 422
#: The server cuts validation details at this length (api/app.py); nothing may be longer.
MAX_DETAIL = 2000
LEAKS = ("/var/lib", "/work", "/tmp/", "Traceback", "site-packages", 'File "', "RecursionError")
MIB = 1024 * 1024


def settings(state_dir: Path, **overrides: Any) -> Settings:
    return Settings(state_dir=state_dir, binary_cache_mb=0, **overrides)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path), backend=backend)) as test_client:
        yield test_client


def refused(response: AnyResponse, status: int, backend: FakeBackend) -> str:
    """Check a refusal end to end and return its detail."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:gosandbox:problem:")
    assert isinstance(body["title"], str)
    assert body["title"]
    detail = body["detail"]
    assert isinstance(detail, str)
    assert len(detail) <= MAX_DETAIL, f"the detail is {len(detail)} characters long: {detail[:200]}..."
    # A sentence a person can read: words, not a dump of the input or of a data structure.
    assert not detail.lstrip().startswith(("{", "[", "<")), detail[:200]
    assert len(re.findall(r"[A-Za-z]{2,}", detail)) >= 3, detail[:200]
    echoed = re.search(r"(.)\1{99}", detail)
    assert echoed is None, f"the detail echoes the input back: {detail[:200]}..."
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaks in {response.text[:500]}"
    assert backend.builds == []
    assert backend.executions == []
    return detail


def post_raw(client: TestClient, content: bytes, headers: dict[str, str] = JSON) -> AnyResponse:
    response: AnyResponse = client.post("/run", content=content, headers=headers)
    return response


# --- JSON that is not a request --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        pytest.param(b"{}", "exactly one of 'code', 'files' and 'txtar'", id="empty-object"),
        pytest.param(b'{"code": null, "files": null}', "exactly one of 'code', 'files' and 'txtar'", id="both-null"),
        pytest.param(b"{", "Invalid JSON", id="unterminated"),
        pytest.param(b"{'code': 'x'}", "Invalid JSON", id="single-quotes"),
        pytest.param(b'{"code": "x",}', "Invalid JSON", id="trailing-comma"),
        pytest.param(b'{"code": "x"} {"code": "y"}', "Invalid JSON", id="two-documents"),
        pytest.param(b'{"code": "x"}\x00', "Invalid JSON", id="trailing-nul"),
        pytest.param(b"\xef\xbb\xbf" + b'{"code": "x"}', "Invalid JSON", id="utf8-bom"),
        pytest.param('{"code": "x"}'.encode("utf-16"), "Invalid JSON", id="utf-16"),
        pytest.param(b'{"code": "\xff"}', "Invalid JSON", id="invalid-utf8-in-json"),
        pytest.param(b"[]", "should be an object", id="list"),
        pytest.param(b'[{"code": "x"}]', "should be an object", id="list-of-request"),
        pytest.param(b"5", "should be an object", id="number"),
        pytest.param(b"-1.5e300", "should be an object", id="float"),
        pytest.param(b'"package main"', "should be an object", id="string"),
        pytest.param(b"null", "should be an object", id="null"),
        pytest.param(b"true", "should be an object", id="bool"),
        pytest.param(b"NaN", "should be an object", id="nan-token"),
    ],
)
def test_json_that_is_not_a_request_object_is_422(
    client: TestClient, backend: FakeBackend, content: bytes, words: str
) -> None:
    assert words in refused(post_raw(client, content), UNPROCESSABLE, backend)


# --- wrong types and unknown fields ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "where"),
    [
        pytest.param({"code": 5}, "code", id="code-int"),
        pytest.param({"code": {"main.go": MAIN}}, "code", id="code-object"),
        pytest.param({"files": [MAIN]}, "files", id="files-list"),
        pytest.param({"files": "main.go"}, "files", id="files-string"),
        pytest.param({"files": {"main.go": None}}, "files.main.go", id="file-null"),
        pytest.param({"files": {"main.go": [MAIN]}}, "files.main.go", id="file-list"),
        pytest.param({"files": {"main.go": MAIN, "util.go": 5}}, "files.util.go", id="file-int"),
        pytest.param({"code": MAIN, "stdin": 5}, "stdin", id="stdin-int"),
        pytest.param({"code": MAIN, "stdin": ["a"]}, "stdin", id="stdin-list"),
        pytest.param({"code": MAIN, "args": "x"}, "args", id="args-string"),
        pytest.param({"code": MAIN, "args": [1]}, "args.0", id="args-int"),
        pytest.param({"code": MAIN, "args": ["ok", None]}, "args.1", id="args-null"),
        pytest.param({"code": MAIN, "limits": "x"}, "limits", id="limits-string"),
        pytest.param({"code": MAIN, "limits": [5]}, "limits", id="limits-list"),
        pytest.param({"code": MAIN, "limits": {"wall_s": "5"}}, "limits.wall_s", id="wall-string-strict"),
        pytest.param({"code": MAIN, "limits": {"memory_mb": 1.5}}, "limits.memory_mb", id="memory-float"),
        pytest.param({"code": MAIN, "limits": {"pids": "64"}}, "limits.pids", id="pids-string"),
        pytest.param({"code": MAIN, "limits": {"cpus": True}}, "limits.cpus", id="cpus-bool"),
        pytest.param({"code": MAIN, "limits": {"output_bytes": 1e3}}, "limits.output_bytes", id="output-float"),
        pytest.param({"code": MAIN, "language": "go"}, "language", id="unknown-top-level-field"),
        pytest.param({"code": MAIN, "limits": {"disk_mb": 10}}, "limits.disk_mb", id="unknown-limit-field"),
        pytest.param({"code": MAIN, "limits": {"Wall_S": 2}}, "limits.Wall_S", id="limit-field-case"),
    ],
)
def test_wrong_types_and_unknown_fields_are_422(
    client: TestClient, backend: FakeBackend, request_body: dict[str, Any], where: str
) -> None:
    detail = refused(client.post("/run", json=request_body), UNPROCESSABLE, backend)
    assert detail.startswith("invalid JSON request: ")
    assert f"{where}: " in detail


# --- sizes -----------------------------------------------------------------------------------------


def test_a_5_mb_body_with_content_length_is_413(client: TestClient, backend: FakeBackend) -> None:
    body = json.dumps({"code": MAIN + "//" + "x" * (5 * MIB)}).encode()
    response = post_raw(client, body)
    assert response.request.headers["content-length"] == str(len(body))
    detail = refused(response, TOO_LARGE, backend)
    assert f"the body holds {len(body)} bytes" in detail
    assert str(MIB) in detail


def test_a_5_mb_body_without_content_length_is_413(client: TestClient, backend: FakeBackend) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"code": "package main //'
        for _ in range(80):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/run", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert f"larger than {MIB} bytes" in refused(response, TOO_LARGE, backend)


def test_10000_small_files_are_422(tmp_path: Path) -> None:
    files = {f"f{i:05}.go": "package main\n" for i in range(10_000)}
    body = json.dumps({"files": files}).encode()
    assert len(body) < 4 * MIB
    backend = FakeBackend()
    with TestClient(create_app(settings(tmp_path, max_body_bytes=4 * MIB), backend=backend)) as client:
        detail = refused(post_raw(client, body), UNPROCESSABLE, backend)
    assert detail == "10000 files sent; at most 256 are allowed"


def test_stdin_over_its_cap_in_a_body_under_the_cap_is_413(tmp_path: Path) -> None:
    backend = FakeBackend()
    with TestClient(create_app(settings(tmp_path, max_body_bytes=4 * MIB), backend=backend)) as client:
        response = client.post("/run", json={"code": MAIN, "stdin": "x" * (MIB + 1)})
        assert "stdin holds" in refused(response, TOO_LARGE, backend)


def test_sources_over_their_cap_in_a_body_under_the_cap_are_413(tmp_path: Path) -> None:
    backend = FakeBackend()
    files = {
        "main.go": MAIN,
        "a.go": "package main\n//" + "x" * (MIB // 2),
        "b.go": "package main\n//" + "y" * (MIB // 2),
    }
    with TestClient(create_app(settings(tmp_path, max_body_bytes=4 * MIB), backend=backend)) as client:
        assert "the files hold" in refused(client.post("/run", json={"files": files}), TOO_LARGE, backend)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        pytest.param(["a"] * 10_000, "10000 arguments sent", id="10000-args"),
        pytest.param(["x" * 100_000], "longer than 4096 bytes", id="one-100-kb-arg"),
    ],
)
def test_too_many_or_too_long_args_are_422(
    client: TestClient, backend: FakeBackend, args: list[str], words: str
) -> None:
    assert words in refused(client.post("/run", json={"code": MAIN, "args": args}), UNPROCESSABLE, backend)


# --- a 100 MB line of stdin, streamed: refused before the body is read -----------------------------

HUNDRED_MB = 100 * MIB
CHUNK = 64 * 1024


class CountingBody:
    """A JSON request whose stdin is one 100 MB line, made lazily; counts what the server pulled."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head = b'{"code": ' + MAIN_JSON.encode() + b', "stdin": "'
        self.sent += len(head)
        yield head
        chunk = b"x" * CHUNK
        for _ in range(HUNDRED_MB // CHUNK):
            self.sent += len(chunk)
            yield chunk
        yield b'"}'


def post_streamed(app: Any, body: CountingBody, headers: dict[str, str]) -> tuple[httpx.Response, int]:
    """POST through httpx's ASGI transport, which (unlike TestClient) hands the body over chunk by chunk.

    In process: nothing leaves this machine. Returns the response and the peak Python memory.
    """

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post("/run", content=body, headers=headers)

    tracemalloc.start()
    try:
        response = asyncio.run(post())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


def test_a_100_mb_stdin_line_streamed_is_413_before_the_body_is_read(tmp_path: Path, backend: FakeBackend) -> None:
    body = CountingBody()
    response, peak = post_streamed(create_app(settings(tmp_path), backend=backend), body, JSON)
    assert "content-length" not in response.request.headers
    assert f"larger than {MIB} bytes" in refused(response, TOO_LARGE, backend)
    # The server stopped pulling at the cap: at most the cap plus the chunk that crossed it.
    assert body.sent <= MIB + 2 * CHUNK, body.sent
    assert peak < 16 * MIB, f"peak Python memory {peak} bytes"


def test_a_100_mb_stdin_line_with_content_length_is_413_unread(tmp_path: Path, backend: FakeBackend) -> None:
    body = CountingBody()
    total = len(b'{"code": ' + MAIN_JSON.encode() + b', "stdin": "') + HUNDRED_MB + 2
    headers = {**JSON, "content-length": str(total)}
    response, _ = post_streamed(create_app(settings(tmp_path), backend=backend), body, headers)
    assert f"the body holds {total} bytes" in refused(response, TOO_LARGE, backend)
    assert body.sent == 0


# --- file names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        pytest.param("..", "'..' segment", id="dotdot"),
        pytest.param("../main.go", "'..' segment", id="dotdot-prefix"),
        pytest.param("a/../../etc/x.go", "'..' segment", id="dotdot-inside"),
        pytest.param("./x.go", "'.' or '..' segment", id="dot-segment"),
        pytest.param("a//x.go", "empty", id="empty-segment"),
        pytest.param("", "empty", id="empty-name"),
        pytest.param("/etc/passwd", "absolute", id="absolute"),
        pytest.param("/main.go", "absolute", id="absolute-go"),
        pytest.param("x.go\x00.txt", "NUL", id="nul-in-name"),
        pytest.param("\x00", "NUL", id="only-nul"),
        pytest.param("a\\b.go", "backslash", id="backslash"),
        pytest.param("..\\..\\x.go", "backslash", id="backslash-dotdot"),
        pytest.param("C:\\x.go", "backslash", id="drive-letter"),
        pytest.param("go.work", "workspaces are not supported", id="go.work"),
        pytest.param("main.c", "only Go is compiled", id="main.c"),
        pytest.param("x.syso", "only Go is compiled", id="syso"),
        pytest.param("inc/x.h", "only Go is compiled", id="header"),
        pytest.param(".env", "only letters", id="dotenv"),
        pytest.param(".hidden.go", "only letters", id="hidden-go"),
        pytest.param("a b.go", "only letters", id="space"),
        pytest.param("x\n.go", "only letters", id="newline"),
        pytest.param("é.go", "only letters", id="non-ascii"),
        pytest.param("a/b/c/d/e/f/g/h/i.go", "deeper than 8 levels", id="too-deep"),
    ],
)
def test_bad_file_names_are_422(client: TestClient, backend: FakeBackend, name: str, words: str) -> None:
    files = {"main.go": MAIN, name: "package main\n"}
    assert words in refused(client.post("/run", json={"files": files}), UNPROCESSABLE, backend)


@pytest.mark.parametrize(
    "name", [pytest.param("z" * 500_000 + ".go", id="500-kb-name"), pytest.param("a/" * 3000 + "x.go", id="deep")]
)
def test_a_huge_file_name_is_not_echoed(client: TestClient, backend: FakeBackend, name: str) -> None:
    refused(client.post("/run", json={"files": {"main.go": MAIN, name: "package main\n"}}), UNPROCESSABLE, backend)


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param({"code": MAIN, "z" * 100_000: 1}, id="top-level"),
        pytest.param({"code": MAIN, "limits": {"z" * 100_000: 1}}, id="limits"),
    ],
)
def test_a_huge_unknown_field_name_is_not_echoed(
    client: TestClient, backend: FakeBackend, request_body: dict[str, Any]
) -> None:
    detail = refused(client.post("/run", json=request_body), UNPROCESSABLE, backend)
    assert "Extra inputs are not permitted" in detail


# --- NUL bytes inside the source: not refused early, the compiler refuses them ---------------------


def go_build_refusing_nul(job: BuildJob) -> BuildOutcome:
    """Like the Go compiler: a NUL byte anywhere in a source file is a syntax error."""
    for name, text in sorted(job.files.items()):
        if "\x00" in text:
            line = text[: text.index("\x00")].count("\n") + 1
            return BuildOutcome(False, f"./{name}:{line}:1: invalid NUL character", None, 0.0)
    return BuildOutcome(True, "", b"binary", 0.0)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(json.dumps({"code": MAIN + "// \x00\n"}).encode(), JSON, id="json-escape"),
        pytest.param((MAIN + "// \x00\n").encode(), TEXT, id="text-plain-raw-nul"),
    ],
)
def test_a_nul_byte_in_the_source_reaches_the_compiler(tmp_path: Path, content: bytes, headers: dict[str, str]) -> None:
    """The source checks look at names and sizes, not at the bytes of Go code: a NUL byte in a file
    is left for the compiler, which refuses it (real Docker: tests/test_docker_bad_input.py). So
    this is a compile_error (200), not a 4xx, and nothing is executed."""
    backend = FakeBackend(build=go_build_refusing_nul)
    with TestClient(create_app(settings(tmp_path), backend=backend)) as client:
        response = client.post("/run", content=content, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "compile_error"
    assert result["compile_output"] == "./main.go:6:1: invalid NUL character"
    [build] = backend.builds
    assert build.files["main.go"] == MAIN + "// \x00\n"
    assert backend.executions == []


# --- text/plain that is not UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"package main\n// \xff\n", id="ff"),
        pytest.param(b"package main\n// \xc0\xaf\n", id="overlong-slash"),
        pytest.param(b"package main\n// \xed\xa0\x80\n", id="cesu-surrogate"),
        pytest.param(b"package main\n// \xf4\x90\x80\x80\n", id="above-10ffff"),
        pytest.param(b"package main\n// \xe2\x82", id="truncated-at-end"),
        pytest.param("package main\n// é\n".encode("latin-1"), id="latin-1"),
        pytest.param(b"\xff" * 500_000, id="500-kb-of-ff"),
    ],
)
def test_text_plain_that_is_not_utf8_is_400(client: TestClient, backend: FakeBackend, content: bytes) -> None:
    detail = refused(post_raw(client, content, TEXT), BAD_REQUEST, backend)
    assert re.fullmatch(r"the body is not valid UTF-8 \(byte \d+\)", detail)


# --- lone surrogates in JSON -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param({"code": "package main // \ud800\n"}, id="code"),
        pytest.param({"code": MAIN, "stdin": "\ud800"}, id="stdin"),
        pytest.param({"code": MAIN, "stdin": "a\udc00b"}, id="stdin-low-surrogate"),
        pytest.param({"code": MAIN, "args": ["\ud800"]}, id="args"),
        pytest.param({"files": {"main.go": MAIN, "x\ud800.go": "package main\n"}}, id="file-name"),
        pytest.param({"files": {"main.go": MAIN, "go.mod": "module \ud800\n"}}, id="go.mod"),
    ],
)
def test_a_lone_surrogate_is_422(client: TestClient, backend: FakeBackend, request_body: dict[str, Any]) -> None:
    content = json.dumps(request_body).encode()  # ensure_ascii: the surrogate travels as a \\ud800 escape
    assert b"\\ud" in content
    assert "Invalid JSON" in refused(post_raw(client, content), UNPROCESSABLE, backend)


# --- go.mod ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "go_mod",
    [
        pytest.param("module sandbox\n\ngo 1.99\n", id="go-1.99"),
        pytest.param("module sandbox\n\ngo 1.27\n\ntoolchain go1.99.0\n", id="toolchain-go1.99.0"),
        pytest.param("module sandbox\n\ngo 1.99\n\ntoolchain go1.99.0\n", id="both"),
    ],
)
def test_a_go_or_toolchain_line_from_the_future_reaches_the_build_unchanged(
    client: TestClient, backend: FakeBackend, go_mod: str
) -> None:
    """Not refused early: only the compiler knows which versions it supports. The builder runs with
    GOTOOLCHAIN=local and GOPROXY=off, so it refuses rather than downloads (real Docker:
    tests/test_docker_bad_input.py). Here: the go.mod is handed to the build byte for byte."""
    response = client.post("/run", json={"files": {"main.go": MAIN, "go.mod": go_mod}})
    assert response.status_code == 200, response.text
    [build] = backend.builds
    assert build.files == {"main.go": MAIN, "go.mod": go_mod}


GO_MOD_HEAD = "module sandbox\n\ngo 1.27\n\nrequire example.com/a v1.0.0\n\n"


@pytest.mark.parametrize(
    "replace",
    [
        pytest.param("replace example.com/a => ../x\n", id="dotdot"),
        pytest.param("replace example.com/a => ./x\n", id="dot"),
        pytest.param("replace example.com/a => .\n", id="dot-alone"),
        pytest.param('replace example.com/a => "../x"\n', id="double-quoted"),
        pytest.param("replace example.com/a => `../x`\n", id="backquoted"),
        pytest.param("replace example.com/a => /abs/x\n", id="absolute"),
        pytest.param('replace example.com/a => "/abs/x"\n', id="absolute-quoted"),
        pytest.param("replace example.com/a=>../x\n", id="no-spaces"),
        pytest.param("replace\texample.com/a\t=>\t../x\n", id="tabs"),
        pytest.param("replace example.com/a v1.0.0 => ../x\n", id="with-version"),
        pytest.param("replace example.com/a => ../x // a comment\n", id="trailing-comment"),
        pytest.param("replace example.com/a => ../x\r\n", id="crlf"),
        pytest.param("replace (\n\texample.com/a => ../x\n)\n", id="block"),
        pytest.param("replace (\n\texample.com/b => example.com/c v1.0.0\n\texample.com/a => /x\n)\n", id="block-2nd"),
        pytest.param('replace (\n\t"example.com/a" v1.0.0 => "../x"\n)\n', id="block-quoted"),
        pytest.param("replace example.com/a => C:\\x\n", id="windows-drive"),
    ],
)
def test_a_local_replace_in_any_spelling_is_422(client: TestClient, backend: FakeBackend, replace: str) -> None:
    files = {"main.go": MAIN, "go.mod": GO_MOD_HEAD + replace}
    detail = refused(client.post("/run", json={"files": files}), UNPROCESSABLE, backend)
    assert re.fullmatch(r"go\.mod line \d+: replace directives may not point at a local path", detail)


@pytest.mark.parametrize(
    "replace",
    [
        pytest.param("replace example.com/a =>\r../x\n", id="cr-after-arrow"),
        pytest.param('replace example.com/a => \r"/abs/x"\n', id="cr-before-quoted"),
        pytest.param("replace (\n\texample.com/a =>\r/x\n)\n", id="cr-in-block"),
    ],
)
def test_a_local_replace_split_by_a_lone_cr_is_422(client: TestClient, backend: FakeBackend, replace: str) -> None:
    files = {"main.go": MAIN, "go.mod": GO_MOD_HEAD + replace}
    refused(client.post("/run", json={"files": files}), UNPROCESSABLE, backend)


# --- limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "name"),
    [
        pytest.param(b'{"wall_s": 0}', "wall_s", id="wall-zero"),
        pytest.param(b'{"wall_s": -0.0}', "wall_s", id="wall-minus-zero"),
        pytest.param(b'{"wall_s": -5}', "wall_s", id="wall-negative"),
        pytest.param(b'{"memory_mb": 0}', "memory_mb", id="memory-zero"),
        pytest.param(b'{"memory_mb": -1}', "memory_mb", id="memory-negative"),
        pytest.param(b'{"cpus": 0}', "cpus", id="cpus-zero"),
        pytest.param(b'{"cpus": -1.5}', "cpus", id="cpus-negative"),
        pytest.param(b'{"pids": -64}', "pids", id="pids-negative"),
        pytest.param(b'{"output_bytes": 0}', "output_bytes", id="output-zero"),
        pytest.param(b'{"wall_s": NaN}', "wall_s", id="wall-nan"),
        pytest.param(b'{"cpus": NaN}', "cpus", id="cpus-nan"),
        pytest.param(b'{"wall_s": Infinity}', "wall_s", id="wall-infinity"),
        pytest.param(b'{"wall_s": -Infinity}', "wall_s", id="wall-minus-infinity"),
        pytest.param(b'{"cpus": 1e309}', "cpus", id="cpus-overflow-to-inf"),
        pytest.param(b'{"wall_s": 30.000001}', "wall_s", id="wall-just-above-cap"),
        pytest.param(b'{"memory_mb": 1025}', "memory_mb", id="memory-above-cap"),
        pytest.param(b'{"cpus": 1000}', "cpus", id="cpus-above-cap"),
        pytest.param(b'{"pids": 1000000}', "pids", id="pids-above-cap"),
        pytest.param(b'{"output_bytes": 9223372036854775808}', "output_bytes", id="output-above-int64"),
    ],
)
def test_limits_out_of_range_are_422(client: TestClient, backend: FakeBackend, limits: bytes, name: str) -> None:
    """NaN and Infinity are not JSON, but the parser takes the tokens: either way the answer is 422."""
    content = b'{"code": ' + MAIN_JSON.encode() + b', "limits": ' + limits + b"}"
    detail = refused(post_raw(client, content), UNPROCESSABLE, backend)
    assert re.fullmatch(rf"limits\.{name}=\S+ is outside the allowed range \[\S+, \S+\]", detail), detail


@pytest.mark.parametrize("digits", [pytest.param(5000, id="5000-digits"), pytest.param(100_000, id="100000-digits")])
def test_a_limit_too_big_to_parse_is_422(client: TestClient, backend: FakeBackend, digits: int) -> None:
    content = b'{"code": ' + MAIN_JSON.encode() + b', "limits": {"memory_mb": ' + b"9" * digits + b"}}"
    assert "number out of range" in refused(post_raw(client, content), UNPROCESSABLE, backend)


def test_a_huge_integer_limit_is_not_echoed(client: TestClient, backend: FakeBackend) -> None:
    content = b'{"code": ' + MAIN_JSON.encode() + b', "limits": {"memory_mb": ' + b"9" * 4000 + b"}}"
    refused(post_raw(client, content), UNPROCESSABLE, backend)


# --- media types and encodings ---------------------------------------------------------------------

GZIPPED_REQUEST = gzip.compress(json.dumps({"code": MAIN}).encode())


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(GZIPPED_REQUEST, {**JSON, "content-encoding": "gzip"}, id="gzip-json"),
        pytest.param(GZIPPED_REQUEST, {**JSON, "content-encoding": "GZIP"}, id="gzip-upper-case"),
        pytest.param(gzip.compress(MAIN.encode()), {**TEXT, "content-encoding": "gzip"}, id="gzip-text"),
        pytest.param(zlib.compress(MAIN.encode()), {**TEXT, "content-encoding": "deflate"}, id="deflate"),
        pytest.param(b"\x00", {**JSON, "content-encoding": "br"}, id="brotli"),
        pytest.param(GZIPPED_REQUEST, {**JSON, "content-encoding": "identity, gzip"}, id="identity-then-gzip"),
        pytest.param(b"<run><code>package main</code></run>", {"content-type": "application/xml"}, id="xml"),
        pytest.param(b"<run/>", {"content-type": "text/xml"}, id="text-xml"),
        pytest.param(b"package main", {"content-type": "text/x-go"}, id="text-x-go"),
        pytest.param(b"package main", {"content-type": "application/octet-stream"}, id="octet-stream"),
        pytest.param(b'{"code": "x"}', {"content-type": "application/vnd.api+json"}, id="vendor-json"),
        pytest.param(b"<html/>", {"content-type": "text/html"}, id="html"),
        pytest.param(b'{"code": "x"}', {"content-type": "json"}, id="bare-json"),
    ],
)
def test_compressed_or_unsupported_bodies_are_415(
    client: TestClient, backend: FakeBackend, content: bytes, headers: dict[str, str]
) -> None:
    detail = refused(post_raw(client, content, headers), UNSUPPORTED, backend)
    assert "not accepted" in detail or "is not supported" in detail


# --- deep nesting ----------------------------------------------------------------------------------

DEPTH = 10_000


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"[" * DEPTH + b"]" * DEPTH, id="arrays"),
        pytest.param(b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, id="objects"),
        pytest.param(b'{"code": "x", "limits": ' + b"[" * DEPTH + b"]" * DEPTH + b"}", id="in-limits"),
        pytest.param(b'{"files": {"main.go": ' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}}", id="in-files"),
        pytest.param(b"[" * DEPTH, id="unterminated"),
    ],
)
def test_json_nested_10000_deep_is_422_not_500(client: TestClient, backend: FakeBackend, content: bytes) -> None:
    assert "Invalid JSON" in refused(post_raw(client, content), UNPROCESSABLE, backend)


# --- duplicate keys --------------------------------------------------------------------------------


def test_a_duplicate_key_keeps_its_last_value(client: TestClient, backend: FakeBackend) -> None:
    """Documented behaviour: as with Python's json module, the last of duplicate keys wins (no 5xx)."""
    content = b'{"code": "package main // first\\n", "code": ' + MAIN_JSON.encode() + b"}"
    response = post_raw(client, content)
    assert response.status_code == 200, response.text
    assert backend.builds[0].files["main.go"] == MAIN


def test_a_duplicate_key_whose_last_value_is_wrong_is_422(client: TestClient, backend: FakeBackend) -> None:
    content = b'{"code": ' + MAIN_JSON.encode() + b', "code": 5}'
    assert "code: " in refused(post_raw(client, content), UNPROCESSABLE, backend)


def test_duplicate_limits_keep_the_last_and_it_is_checked(client: TestClient, backend: FakeBackend) -> None:
    content = b'{"code": ' + MAIN_JSON.encode() + b', "limits": {"wall_s": 2, "wall_s": 3000}}'
    assert "limits.wall_s=3000" in refused(post_raw(client, content), UNPROCESSABLE, backend)

"""Bad input that only the real compiler can judge, against the real Docker engine through the HTTP API.

Companion of ``tests/test_bad_input.py``: there, these inputs are shown to pass the early checks
unchanged; here, the builder (GOTOOLCHAIN=local, GOPROXY=off, no network) refuses them as a
``compile_error`` — never a download, never a 5xx — and program output that is not text still
comes back as valid JSON.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from support.docker_helpers import run

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'


def test_go_mod_asking_for_go_1_99_is_a_compile_error(live: TestClient) -> None:
    result = run(live, files={"main.go": MAIN, "go.mod": "module sandbox\n\ngo 1.99\n"})
    assert result["status"] == "compile_error", result
    output = result["compile_output"]
    assert "1.99" in output
    assert "GOTOOLCHAIN=local" in output
    assert "download" not in output.lower()
    assert result["exit_code"] is None


def test_go_mod_with_a_future_toolchain_line_never_downloads(live: TestClient) -> None:
    go_mod = "module sandbox\n\ngo 1.27\n\ntoolchain go1.99.0\n"
    result = run(live, files={"main.go": MAIN, "go.mod": go_mod})
    assert result["status"] in ("ok", "compile_error"), result
    assert "download" not in result["compile_output"].lower()
    if result["status"] == "ok":
        assert result["stdout"] == "hi\n"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(json.dumps({"code": MAIN + "// \x00\n"}).encode(), "application/json", id="json"),
        pytest.param((MAIN + "// \x00\n").encode(), "text/plain", id="text-plain"),
    ],
)
def test_a_nul_byte_in_the_source_is_a_compile_error(live: TestClient, content: bytes, content_type: str) -> None:
    response = live.post("/run", content=content, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "compile_error", result
    assert "./main.go:6:" in result["compile_output"]
    assert "NUL" in result["compile_output"]


def test_output_with_invalid_utf8_and_nul_is_valid_json(live: TestClient) -> None:
    program = (
        'package main\n\nimport "os"\n\n'
        "func main() {\n"
        "\tos.Stdout.Write([]byte{'a', 0x00, 'b', 0xff, 0xfe, 'c', 0xed, 0xa0, 0x80, '\\n'})\n"
        "\tos.Stderr.Write([]byte{0x00, 0xc3, 0x28})\n"
        "}\n"
    )
    response = live.post("/run", json={"code": program})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    raw = response.content.decode("utf-8")  # strict: the body itself is valid UTF-8
    assert "\\u0000" in raw  # NUL kept, escaped by JSON
    result = json.loads(raw)
    assert result["status"] == "ok"
    assert result["stdout"] == "a\x00b\ufffd\ufffdc\ufffd\ufffd\ufffd\n"
    assert result["stderr"] == "\x00\ufffd("


def test_a_local_replace_split_by_a_lone_cr_is_refused(live: TestClient) -> None:
    go_mod = "module sandbox\n\ngo 1.27\n\nrequire example.com/a v0.0.0\n\nreplace example.com/a =>\r/usr/local/go\n"
    main = 'package main\n\nimport _ "example.com/a"\n\nfunc main() {}\n'
    response = live.post("/run", json={"files": {"main.go": main, "go.mod": go_mod}})
    assert response.status_code == 422, response.text

"""A go.mod cannot make a real build read outside the submission, however its replace is spelled.

The probe of issue 24: ``replace "example.com/probe//x" => /usr/local/go/src``. A check that cut lines at
the first ``//`` took it for a comment; the go command reads ``//`` inside a quoted string as part of the
string, so the build read the toolchain's own go.mod, whose requirements (golang.org/x/net, x/crypto)
joined the submission's module graph. The builder itself is the control: handed the file directly (no
API, no check), it reads that go.mod; through the API, every spelling is refused before any build.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gosandbox.backends.base import BuildJob
from gosandbox.backends.docker.backend import DockerBackend

MAIN = 'package main\n\nimport _ "golang.org/x/net/html"\n\nfunc main() {}\n'
# What the go command says once /usr/local/go/src/go.mod was read: its requirement on golang.org/x/net put a
# module providing the import into the graph (without it: "missing go.sum entry for go.mod file" of the probe).
READ_THE_TOOLCHAINS_GO_MOD = "missing go.sum entry for module providing package golang.org/x/net/html"

SPELLINGS = {
    "the probe: // inside a quoted path": 'replace "example.com/probe//x" => /usr/local/go/src',
    "a quoted target": 'replace "example.com/probe//x" => "/usr/local/go/src"',
    "an escaped target": 'replace "example.com/probe//x" => "\\x2fusr/local/go/src"',
    "an octal-escaped target": 'replace "example.com/probe//x" => "\\057usr/local/go/src"',
    "a block with comments": 'replace ( // forks\n\t"example.com/probe//x" => /usr/local/go/src // x\n)',
}


def go_mod(replace: str) -> str:
    return f'module sandbox\n\ngo 1.27\n\nrequire "example.com/probe//x" v0.0.0\n\n{replace}\n'


def test_the_builder_handed_the_probe_directly_reads_outside(docker_backend: DockerBackend) -> None:
    """The control: the escape is real in the go command, so only the check stands in its way."""
    files = {"go.mod": go_mod(SPELLINGS["the probe: // inside a quoted path"]), "main.go": MAIN}
    built = docker_backend.build(BuildJob(files=files, timeout_s=60))
    assert not built.succeeded
    assert READ_THE_TOOLCHAINS_GO_MOD in built.output, built.output


@pytest.mark.parametrize("name", SPELLINGS)
def test_no_spelling_reaches_a_build(live: TestClient, name: str) -> None:
    files = {"go.mod": go_mod(SPELLINGS[name]), "main.go": MAIN}
    response = live.post("/run", json={"files": files})
    assert response.status_code == 422, response.text
    assert "replace directives may not point at a local path" in response.json()["detail"]
    assert READ_THE_TOOLCHAINS_GO_MOD not in response.text


def test_a_module_replace_still_reaches_the_build(live: TestClient) -> None:
    """The go command is the judge of a module-to-module replace: no proxy here, so it cannot find the module."""
    files = {"go.mod": go_mod('replace "example.com/probe//x" => example.com/fork v1.0.0'), "main.go": MAIN}
    answer = live.post("/run", json={"files": files}).json()
    assert answer["status"] == "compile_error", answer
    assert "(replaced by example.com/fork@v1.0.0)" in answer["compile_output"], answer
    assert READ_THE_TOOLCHAINS_GO_MOD not in str(answer)

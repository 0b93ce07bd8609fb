"""The direct compile-and-link gives what the go command gives, and the build service serves both.

One builder builds with the direct path allowed (a single ``main`` package of the standard library is compiled
and linked by ``go tool compile`` / ``go tool link``), another only with the go command; every program of the
table goes through both and the two outcomes are compared: success, the compile output to the byte (the go
command's ``# <module>`` header and ``./main.go:4:2:`` positions), the diagnostics read from it, the build
information recorded in the binary (``-trimpath``, the module, the default GODEBUG that go.mod's go line selects)
and the program's own run (stdout, stderr, exit code) in a run sandbox. Each program also says which path the
direct builder must take: a program the direct path must refuse is built by the go command there too.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob
from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.backends.docker.builds import Builds, BuildsConfig
from gosandbox.diagnostics import parse_positions
from gosandbox.limits import Limits
from gosandbox.toolchain import Tool
from support.docker_helpers import TEST_INSTANCE

MOD = "module sandbox\n\ngo 1.27\n"
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello")\n}\n'
UNUSED = 'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tx := 1\n\tfmt.Println(y)\n}\n'
MANY_ERRORS = "package main\n\nfunc main() {\n" + "".join(f"\tundefined{i}()\n" for i in range(14)) + "}\n"
VET_UNCLEAN = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Printf("%d\\n", "not a number")\n}\n'
GENERICS = """package main

import "fmt"

type Number interface{ ~int | ~float64 }

func Sum[T Number](xs ...T) T {
\tvar total T
\tfor _, x := range xs {
\t\ttotal += x
\t}
\treturn total
}

func main() {
\tfmt.Println(Sum(1, 2, 3), Sum(1.5, 2.5))
}
"""
RANGE_INT = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfor i := range 3 {\n\t\tfmt.Println(i)\n\t}\n}\n'
PANICS = 'package main\n\nfunc main() {\n\tvar m map[string]int\n\tm["x"] = 1\n}\n'
SHADOW_LOOP = """package main

import "fmt"

func main() {
\tvar fs []func()
\tfor i := 0; i < 3; i++ {
\t\tfs = append(fs, func() { fmt.Print(i) })
\t}
\tfor _, f := range fs {
\t\tf()
\t}
\tfmt.Println()
}
"""
EMBED = (
    'package main\n\nimport (\n\t_ "embed"\n\t"fmt"\n)\n\n//go:embed data.txt\nvar data string\n\n'
    "func main() {\n\tfmt.Print(data)\n}\n"
)
INTERNAL = (
    'package main\n\nimport (\n\t"fmt"\n\t"internal/cpu"\n)\n\nfunc main() {\n\tfmt.Println(cpu.CacheLineSize)\n}\n'
)

#: name -> (files, the path the direct builder takes: "direct" or "go")
PROGRAMS: dict[str, tuple[dict[str, str], str]] = {
    "hello": ({"main.go": HELLO, "go.mod": MOD}, "direct"),
    "compile errors": ({"main.go": UNUSED, "go.mod": MOD}, "direct"),
    "too many errors": ({"main.go": MANY_ERRORS, "go.mod": MOD}, "direct"),
    "vet-unclean, builds": ({"main.go": VET_UNCLEAN, "go.mod": MOD}, "direct"),
    "generics, two files": (
        {"main.go": GENERICS, "util.go": "package main\n\nfunc unused() {}\n", "go.mod": MOD},
        "direct",
    ),
    "go 1.21: range over int refused by -lang": ({"main.go": RANGE_INT, "go.mod": "module m\n\ngo 1.21\n"}, "direct"),
    "go 1.20: old loop variables, GODEBUG defaults": (
        {"main.go": SHADOW_LOOP, "go.mod": "module example.com/old\n\ngo 1.20\n"},
        "direct",
    ),
    "a panic's positions": ({"main.go": PANICS, "go.mod": MOD}, "direct"),
    "refused: go:embed": ({"main.go": EMBED, "data.txt": "embedded\n", "go.mod": MOD}, "go"),
    "refused: an internal package": ({"main.go": INTERNAL, "go.mod": MOD}, "go"),
    "refused: two packages": (
        {
            "main.go": 'package main\n\nimport "example.com/app/lib"\n\nfunc main() { lib.Hi() }\n',
            "lib/lib.go": 'package lib\n\nimport "fmt"\n\n// Hi says hi.\nfunc Hi() { fmt.Println("hi") }\n',
            "go.mod": "module example.com/app\n\ngo 1.27\n",
        },
        "go",
    ),
    "refused: a go.mod newer than the toolchain": ({"main.go": HELLO, "go.mod": "module m\n\ngo 1.99\n"}, "go"),
    "refused: a test file": (
        {
            "main.go": HELLO,
            "main_test.go": 'package main\n\nimport "testing"\n\nfunc TestX(t *testing.T) {}\n',
            "go.mod": MOD,
        },
        "go",
    ),
}

_INFO_START = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
_INFO_END = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"


def build_info(binary: bytes) -> bytes:
    """The build information the go command records in a binary (``go version -m`` reads it)."""
    start = binary.index(_INFO_START) + len(_INFO_START)
    return binary[start : binary.index(_INFO_END, start)]


@pytest.fixture(scope="module")
def builders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Builds, Builds]]:
    """A builder that builds directly where it can, and one that always runs the go command."""
    state = tmp_path_factory.mktemp("fast-build")
    direct = Builds(BuildsConfig(state_dir=state, instance=f"{TEST_INSTANCE}-direct"))
    go = Builds(BuildsConfig(state_dir=state, instance=f"{TEST_INSTANCE}-gocmd", direct_builds=False))
    try:
        yield direct, go
    finally:
        direct.close()
        go.close()


def _build(builds: Builds, files: dict[str, str], caplog: pytest.LogCaptureFixture) -> tuple[BuildOutcome, str]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="gosandbox.backends.docker.builder"):
        outcome = builds.build(BuildJob(files, timeout_s=60))
    paths = [m[1] for r in caplog.records if (m := re.match(r"build: (direct|go) path", r.getMessage()))]
    assert len(paths) == 1, caplog.text
    return outcome, paths[0]


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_both_paths_agree(
    name: str, builders: tuple[Builds, Builds], docker_backend: DockerBackend, caplog: pytest.LogCaptureFixture
) -> None:
    files, expected_path = PROGRAMS[name]
    direct_builds, go_builds = builders
    direct, direct_path = _build(direct_builds, files, caplog)
    go, go_path = _build(go_builds, files, caplog)
    assert (direct_path, go_path) == (expected_path, "go")
    assert direct.succeeded == go.succeeded
    assert direct.output == go.output
    assert parse_positions(direct.output) == parse_positions(go.output)
    if not go.succeeded:
        assert direct.binary is None
        return
    assert direct.binary is not None
    assert go.binary is not None
    assert build_info(direct.binary) == build_info(go.binary)
    limits = Limits()
    ran_direct, ran_go = (docker_backend.execute(ExecJob(b, b"", (), limits)) for b in (direct.binary, go.binary))
    assert (ran_direct.exit_code, ran_direct.stdout, ran_direct.stderr) == (
        ran_go.exit_code,
        ran_go.stdout,
        ran_go.stderr,
    )


def test_what_the_table_shows(builders: tuple[Builds, Builds], caplog: pytest.LogCaptureFixture) -> None:
    """The comparisons above compare something: the texts and settings the table's programs are chosen for."""
    direct_builds, _ = builders
    errors, _ = _build(direct_builds, PROGRAMS["compile errors"][0], caplog)
    assert errors.output.startswith("# sandbox\n./main.go:5:2: ")
    assert "./main.go:9:2: declared and not used: x" in errors.output
    lang, _ = _build(direct_builds, PROGRAMS["go 1.21: range over int refused by -lang"][0], caplog)
    assert "requires go1.22" in lang.output
    old, _ = _build(direct_builds, PROGRAMS["go 1.20: old loop variables, GODEBUG defaults"][0], caplog)
    assert old.binary is not None
    assert b"DefaultGODEBUG=" in build_info(old.binary)
    assert b"path\texample.com/old\n" in build_info(old.binary)


def test_the_service_answers_a_build_request_only_on_its_own_socket(builders: tuple[Builds, Builds]) -> None:
    """The socket sits in a directory of the builds' directory that is the builder uid's alone."""
    direct_builds, _ = builders
    builder = direct_builds.builder_for(None)
    builder.build(BuildJob({"main.go": HELLO, "go.mod": MOD}, timeout_s=60))
    service = Path(builder.config.builds_dir, builder.config.service_dir)
    assert service.stat().st_mode & 0o777 == 0o700
    assert (service / "build.sock").is_socket()
    directory = os.open(service, os.O_PATH)  # its path may be longer than a socket address
    with socket.socket(socket.AF_UNIX) as conn:  # a bad request gets a clear answer, and the service serves on
        conn.connect(f"/proc/self/fd/{directory}/build.sock")
        os.close(directory)
        conn.sendall(b'{"dir": "relative"}\n')
        answer = json.loads(b"".join(iter(lambda: conn.recv(4096), b"")))
    assert answer["exit"] == 125
    assert base64.b64decode(answer["output"]) == b"gosandbox-agent: bad request\n"
    assert builder.build(BuildJob({"main.go": HELLO, "go.mod": MOD}, timeout_s=60)).succeeded


def test_a_build_past_its_deadline_is_stopped(builders: tuple[Builds, Builds]) -> None:
    """The service holds the deadline, as the exec'd agent did: the go command's tools are killed at it."""
    _, go_builds = builders
    # 20 000 functions take the compiler several seconds here; the deadline is 1 s.
    functions = "".join(f"func f{i}(x int) int {{ return x*{i} + {i} }}\n" for i in range(20000))
    slow = f'package main\n\nimport "fmt"\n\n{functions}\nfunc main() {{ fmt.Println(f1(2)) }}\n'
    outcome = go_builds.build(BuildJob({"main.go": slow, "go.mod": MOD}, timeout_s=1.0, tool=Tool.BUILD))
    assert not outcome.succeeded
    assert "did not finish within 1.0 s" in outcome.output


TWO_PACKAGES = {
    "main.go": 'package main\n\nimport "example.com/app/lib"\n\nfunc main() { lib.Hi() }\n',
    "lib/lib.go": 'package lib\n\nimport "fmt"\n\n// Hi says hi.\nfunc Hi() { fmt.Println("hi {tag}") }\n',
    "go.mod": "module example.com/app\n\ngo 1.27\n",
}


def _cache_bytes(builds: Builds) -> int:
    """The builder's build cache's size, from the service's trim (its cap far above: nothing is removed)."""
    before, after, removed = builds.builder_for(None).trim_cache()
    assert (after, removed) == (before, 0)
    return before


def test_another_tenants_same_source_is_a_cache_miss(builders: tuple[Builds, Builds]) -> None:
    """Issue 24: the go command's cache answered "has anyone compiled exactly this?" by its speed. Each tenant's
    own packages are compiled with its own flag, so the second tenant's compile of the same source writes new
    cache entries (a miss), while the same tenant again writes none (a hit): the structure, not a timing."""
    _, go_builds = builders
    files = {name: text.replace("{tag}", uuid.uuid4().hex) for name, text in TWO_PACKAGES.items()}

    def build(tenant: str) -> int:
        assert go_builds.build(BuildJob(files, timeout_s=60, tenant=tenant)).succeeded
        return _cache_bytes(go_builds)

    first = build("key-a")
    assert build("key-a") == first  # the same tenant: every compile a hit
    second_tenant = build("key-b")
    assert second_tenant > first  # another tenant: its own compiles, new entries
    assert build("key-b") == second_tenant


def test_the_direct_path_leaves_nothing_in_the_shared_cache(builders: tuple[Builds, Builds]) -> None:
    direct_builds, _ = builders
    source = HELLO.replace("hello", uuid.uuid4().hex)
    assert direct_builds.build(BuildJob({"main.go": source, "go.mod": MOD}, timeout_s=60)).succeeded
    before = _cache_bytes(direct_builds)
    fresh = HELLO.replace("hello", uuid.uuid4().hex)
    assert direct_builds.build(BuildJob({"main.go": fresh, "go.mod": MOD}, timeout_s=60, tenant="key-a")).succeeded
    assert _cache_bytes(direct_builds) == before

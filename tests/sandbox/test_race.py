"""``race: true`` with real builds: the race builder compiles with -race (a C toolchain from Debian's packages, the
program linked statically), the program runs in the ordinary run sandbox, and its races come back as data."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.backends.base import Backend, BuildJob
from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.images import image_names
from gosandbox.backends.docker.race_image import build_race_builder
from gosandbox.toolchain import ELF_MAGIC, Tool
from support.combinations import DEFAULT_COMBINATION, DOCKER_RUNC, Combination
from support.docker_helpers import run

GO_MOD = "module example.com/race\n\ngo 1.27\n"
COUNTER = """package main

import (
\t"fmt"
\t"sync"
)

func main() {
\tcounter := 0
\tvar wg sync.WaitGroup
\tfor i := 0; i < 2; i++ {
\t\twg.Add(1)
\t\tgo func() {
\t\t\tdefer wg.Done()
\t\t\tcounter++
\t\t}()
\t}
\twg.Wait()
\tfmt.Println(counter)
}
"""
LOCKED = (
    COUNTER.replace("\tcounter := 0\n", "\tcounter := 0\n\tvar mu sync.Mutex\n")
    .replace("\t\t\tcounter++\n", "\t\t\tmu.Lock()\n\t\t\tcounter++\n\t\t\tmu.Unlock()\n")
)  # fmt: skip
RACY_TEST = """package race

import (
\t"sync"
\t"testing"
)

var hits = map[string]int{}

func TestRacy(t *testing.T) {
\tvar wg sync.WaitGroup
\tfor i := 0; i < 2; i++ {
\t\twg.Add(1)
\t\tgo func() {
\t\t\tdefer wg.Done()
\t\t\thits["k"]++
\t\t}()
\t}
\twg.Wait()
}

func TestCalm(t *testing.T) {}
"""
#: A race, then memory past the limit, touched page by page: the race runtime's shadow memory is counted too.
HOG = COUNTER.replace(
    "\tfmt.Println(counter)\n",
    "\tfmt.Println(counter)\n\tvar held [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n"
    "\t\tfor j := range b {\n\t\t\tb[j] = 1\n\t\t}\n\t\theld = append(held, b)\n\t}\n",
)


def line_of(text: str, source: str) -> int:
    [number] = [n for n, line in enumerate(source.splitlines(), 1) if text in line]
    return number


@pytest.fixture(scope="module", autouse=True)
def race_builder() -> None:
    """The race builder image (make setup builds it; a current one is kept as it is)."""
    build_race_builder(connect(timeout_s=900), image_names(), progress=lambda _line: None)


def own_lines(frames: list[dict[str, Any]], file: str) -> list[int]:
    return [frame["line"] for frame in frames if frame["file"] == file]


#: runc under Docker, the default, and gVisor (the issue asks for it: glibc's clone3 answers ENOSYS there too).
RACE_COMBINATIONS = sorted({DOCKER_RUNC, DEFAULT_COMBINATION, Combination("oci", "runsc")}, key=str)


@pytest.mark.parametrize("combination", RACE_COMBINATIONS, ids=str)
def test_two_goroutines_incrementing_a_counter_race(sandbox_app: TestClient, combination: Combination) -> None:
    result = run(sandbox_app, COUNTER, race=True)
    assert (result["status"], result["exit_code"]) == ("runtime_error", 66), (result["stderr"], result["message"])
    assert result["stdout"] == "2\n"
    [race] = result["races"]
    increment, go_statement = line_of("counter++", COUNTER), line_of("go func()", COUNTER)
    kinds = sorted(access["kind"] for access in race["accesses"])
    assert kinds in (["read", "write"], ["write", "write"])
    for access in race["accesses"]:
        assert own_lines(access["frames"], "main.go")[:1] == [increment], access
    assert [own_lines(created["frames"], "main.go")[:1] for created in race["created"]] == [[go_statement]] * 2
    assert result["message"].startswith(f"data race: {kinds[0]} at main.go:{increment} (goroutine ")
    assert "WARNING: DATA RACE" in result["stderr"]


def test_the_same_program_with_a_mutex_has_no_race(live: TestClient) -> None:
    result = run(live, LOCKED, race=True)
    assert (result["status"], result["exit_code"], result["races"]) == ("ok", 0, []), result
    assert result["stdout"] == "2\n"
    assert run(live, LOCKED)["races"] is None  # not built for races: none were looked for


def test_a_race_fails_its_test_with_the_race_attached(live: TestClient) -> None:
    files = {"race_test.go": RACY_TEST, "go.mod": GO_MOD}
    response = live.post("/test", json={"files": files, "race": True})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["passed"] is False
    assert {case["name"]: case["result"] for case in result["tests"]} == {"TestRacy": "fail", "TestCalm": "pass"}
    assert result["races"], result["stderr"]
    assert {race["test"] for race in result["races"]} == {"TestRacy"}
    # Some stacks end in the runtime (a map's read is reported inside mapaccess): the increment's line is in one.
    increment = line_of('hits["k"]++', RACY_TEST)
    accesses = [access for race in result["races"] for access in race["accesses"]]
    lines = {line for access in accesses for line in own_lines(access["frames"], "race_test.go")}
    assert increment in lines, result["races"]


def test_a_race_program_over_the_memory_limit_ends_memory_limit(live: TestClient) -> None:
    result = run(live, HOG, race=True, limits={"memory_mb": 96})
    assert result["status"] == "memory_limit", result
    assert result["races"], result["stderr"][-2000:]
    assert result["races"][0]["accesses"]
    assert live.get("/healthz").status_code == 200  # the service is unharmed


@pytest.mark.parametrize(
    "source",
    [
        'package main\n\n// #cgo LDFLAGS: -Wl,--script=/etc/passwd\nimport "C"\n\nfunc main() {}\n',
        'package main\n\n//go:cgo_ldflag "-Wl,--script=/etc/passwd"\n\nfunc main() {}\n',
        'package main\n\nimport "C"\n\nfunc main() {}\n',
    ],
    ids=["cgo-ldflags", "go-cgo-ldflag", "import-C"],
)
def test_what_would_reach_the_c_toolchain_is_refused(live: TestClient, source: str) -> None:
    for endpoint in ("/run", "/test"):
        response = live.post(endpoint, json={"files": {"main.go": source, "go.mod": GO_MOD}, "race": True})
        assert response.status_code == 422, response.text
        assert "main.go" in response.json()["detail"]


def test_the_race_builder_itself_refuses_cgo_that_reached_it(docker_backend: Backend) -> None:
    """Defence in depth: a package with cgo files (a required module's, say) fails the race build's own check."""
    files = {"main.go": 'package main\n\n// #include <stdio.h>\nimport "C"\n\nfunc main() {}\n', "go.mod": GO_MOD}
    build = docker_backend.build(BuildJob(files, 60.0, Tool.BUILD, race=True))
    assert not build.succeeded
    assert "example.com/race uses cgo, which race builds refuse" in build.output
    plain = docker_backend.build(BuildJob({"main.go": LOCKED, "go.mod": GO_MOD}, 60.0, Tool.BUILD, race=True))
    assert plain.succeeded, plain.output
    assert plain.output == ""
    assert plain.binary is not None
    assert plain.binary.startswith(ELF_MAGIC)

"""run, test, vet and fmt from the command line on the default backend and runtime (those ``gosandbox serve``
uses): on this host, and on a server (``GOSANDBOX_URL``, ``--server``); each prints the same both ways."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gosandbox.app import create_app
from gosandbox.defaults import AUTO, choose
from support.cli_runs import Cli
from support.docker_helpers import TEST_INSTANCE, docker_settings
from support.inprocess_server import uvicorn_serving

PROGRAMS = {
    "hello.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("Hello, sandbox!") }\n',
    # The kernel the program sees: gVisor's own under runsc, the host's under runc.
    "kernel.go": 'package main\n\nimport (\n\t"fmt"\n\t"syscall"\n)\n\nfunc main() {\n\tvar u syscall.Utsname\n'
                 '\tsyscall.Uname(&u)\n\tb := []byte{}\n\tfor _, c := range u.Release {\n\t\tif c == 0 {\n'
                 '\t\t\tbreak\n\t\t}\n\t\tb = append(b, byte(c))\n\t}\n\tfmt.Println(string(b))\n}\n',
    "echo.go": 'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\nfunc main() {\n\tio.Copy(os.Stdout, os.Stdin)\n'
               '\tos.Stderr.WriteString(os.Args[1] + "\\n")\n\tos.Exit(3)\n}\n',
    "typo.go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Prinln("hi")\n}\n',
    "crash.go": 'package main\n\nfunc main() {\n\tvar m map[string]int\n\tm["x"] = 1\n}\n',
}  # fmt: skip

CALC = {
    "calc/go.mod": "module example.com/calc\n\ngo 1.22\n",
    "calc/calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
    "calc/calc_test.go": 'package calc\n\nimport (\n\t"fmt"\n\t"testing"\n)\n\nfunc TestAdd(t *testing.T) {\n'
                         '\tfmt.Println("printed by the test")\n\tt.Log("adding")\n\tif Add(1, 2) != 4 {\n'
                         '\t\tt.Error("wrong sum")\n\t}\n}\n\nfunc TestSkips(t *testing.T) { t.Skip("later") }\n',
    "vetme/vetme.go": 'package vetme\n\nimport "fmt"\n\nfunc Show(a, b int) {\n\tfmt.Printf("%d\\n", a, b)\n}\n',
    "ugly/ugly.go": "package ugly\nfunc Ugly() {  }\n",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server in-process on the default backend and runtime; its URL."""
    state = tmp_path_factory.mktemp("server")
    settings = docker_settings(state, instance=f"{TEST_INSTANCE}-cliserver", backend="auto", runtime="auto")
    with uvicorn_serving(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    command = Cli(tmp_path_factory.mktemp("cli"), f"{TEST_INSTANCE}-clicmd")
    yield command
    command.reap()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's folder: the programs, and the packages ``calc/``, ``vetme/`` and ``ugly/``."""
    folder = tmp_path_factory.mktemp("work")
    for name, text in {**PROGRAMS, **CALC}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def both(cli: Cli, server: str, work: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The command on this host and through GOSANDBOX_URL; what each printed and its exit code, the same."""
    here = cli(*args, stdin=stdin, cwd=work)
    there = cli(*args, stdin=stdin, cwd=work, env={"GOSANDBOX_URL": server})
    assert (there.returncode, there.stdout, _same(there.stderr)) == (here.returncode, here.stdout, _same(here.stderr))
    return here


def _same(stderr: bytes) -> bytes:
    """What two runs of a program print the same: the verdict line without its CPU time and peak memory."""
    return re.sub(rb"; \d+ ms CPU, \d+ KiB peak memory\n", b"\n", stderr)


def test_the_server_runs_the_default_backend_and_runtime(server: str) -> None:
    version = httpx.get(f"{server}/version").json()
    assert (version["backend"], version["runtime"]) == choose(AUTO, AUTO)


def test_run_prints_the_same_here_and_on_the_server(cli: Cli, server: str, work: Path) -> None:
    assert both(cli, server, work, "run", "hello.go").stdout == b"Hello, sandbox!\n"
    kernel = both(cli, server, work, "run", "kernel.go").stdout.decode().strip()
    if httpx.get(f"{server}/version").json()["runtime"] == "runsc":
        assert kernel != os.uname().release  # gVisor's kernel, not the host's: the same runtime ran both
    echoed = both(cli, server, work, "run", "echo.go", "--", "arg1", stdin=b"Ada\n")
    assert (echoed.returncode, echoed.stdout) == (3, b"Ada\n")
    assert _same(echoed.stderr) == b"arg1\ngosandbox: runtime_error; exit 3\n"
    assert re.search(rb"; exit 3; \d+ ms CPU, \d+ KiB peak memory\n", echoed.stderr), echoed.stderr
    typo = both(cli, server, work, "run", "typo.go")
    assert typo.returncode == 2
    assert b"typo.go:6:6: undefined: fmt.Prinln" in typo.stderr
    crash = both(cli, server, work, "run", "crash.go")
    assert b"\tcrash.go:5 +0x" in crash.stderr  # the stack trace names the user's file


def test_limits_and_a_refused_request_exit_as_documented(cli: Cli, server: str, work: Path) -> None:
    flood = work / "flood.go"
    flood.write_text('package main\n\nimport "fmt"\n\nfunc main() { for { fmt.Println("xxxxxxxx") } }\n')
    for env in ({}, {"GOSANDBOX_URL": server}):
        capped = cli("run", str(flood), "--output-bytes", "100", env=env)
        assert capped.returncode == 141, capped.stderr
        assert len(capped.stdout) <= 100
        unknown = cli("run", str(work / "hello.go"), "--go-version", "go1.2", env=env)
        assert unknown.returncode == 125, unknown.stderr  # gosandbox refused it: not the program's code


def test_test_vet_fmt_print_the_same_here_and_on_the_server(cli: Cli, server: str, work: Path) -> None:
    tested = both(cli, server, work, "test", "calc")
    assert tested.returncode == 1
    assert tested.stdout.decode() == (
        "printed by the test\n--- FAIL: TestAdd (0.00s)\n    calc/calc_test.go:10: adding\n"
        "    calc/calc_test.go:12: wrong sum\nFAIL\nFAIL\texample.com/calc\t0 passed, 1 failed, 1 skipped\n"
    )
    verbose = both(cli, server, work, "test", "calc", "-v", "--run", "TestSkips")
    assert b"--- SKIP: TestSkips" in verbose.stdout
    vetted = both(cli, server, work, "vet", "vetme")
    finding = b"vetme/vetme.go:6:2: fmt.Printf call needs 1 arg but has 2 args (printf)\n"
    assert (vetted.returncode, vetted.stdout) == (1, finding)
    listed = both(cli, server, work, "fmt", "ugly")
    assert (listed.returncode, listed.stdout) == (1, b"ugly/ugly.go\n")


def test_fmt_write_and_the_server_flag(cli: Cli, server: str, tmp_path: Path) -> None:
    ugly = tmp_path / "ugly.go"
    ugly.write_text("package main\nfunc main() {  }\n")
    written = cli("fmt", "--write", str(ugly), "--server", server)
    assert written.returncode == 0, written.stderr
    assert ugly.read_text() == "package main\n\nfunc main() {}\n"


def test_an_unreachable_server_says_which_and_how_to_start_one(cli: Cli, work: Path) -> None:
    done = cli("run", "hello.go", "--server", "http://127.0.0.1:9", cwd=work)
    assert done.returncode == 125
    assert b"cannot reach the server at http://127.0.0.1:9" in done.stderr
    assert b"hint: start it with `gosandbox serve`" in done.stderr

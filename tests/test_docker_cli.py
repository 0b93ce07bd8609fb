"""The command line against the real engine: exit codes and output as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docker_helpers import TEST_INSTANCE
from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import INSTANCE_LABEL, LABEL

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def gosandbox(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOSANDBOX_STATE_DIR": str(tmp_path / "state"), "GOSANDBOX_INSTANCE": f"{TEST_INSTANCE}-cli"}
    command = [sys.executable, "-m", "gosandbox.cli", *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def _cli_sandboxes() -> list[str]:
    """Containers of any CLI process of this test run (their instance label ends in the CLI's pid)."""
    containers = connect().api.containers(all=True, filters={"label": LABEL})
    prefix = f"{TEST_INSTANCE}-cli"
    return [c["Id"] for c in containers if c["Labels"].get(INSTANCE_LABEL, "").startswith(prefix)]


@pytest.fixture
def package(tmp_path: Path) -> Path:
    folder = tmp_path / "calc"
    (folder / "testdata").mkdir(parents=True)
    (folder / "go.mod").write_text("module example.com/calc\n\ngo 1.27\n")
    (folder / "calc.go").write_text("package calc\nfunc Add(a,b int) int {return a+b}\n")
    (folder / "calc_test.go").write_text(
        'package calc\n\nimport (\n\t"os"\n\t"testing"\n)\n\n'
        'func TestAdd(t *testing.T) { if Add(1, 2) != 3 { t.Fatal("x") } }\n\n'
        'func TestData(t *testing.T) { if _, err := os.ReadFile("testdata/x.txt"); err != nil { t.Fatal(err) } }\n'
    )
    (folder / "testdata" / "x.txt").write_text("x\n")
    return folder


def test_run_prints_output_and_exits_with_the_program(tmp_path: Path) -> None:
    done = gosandbox(tmp_path, "run", str(EXAMPLES / "multifile"), "--stdin", "-", stdin="Ada\n")
    assert (done.returncode, done.stdout) == (0, "Hello, Ada!\n")
    code = 'package main\n\nimport "os"\n\nfunc main() { println(os.Args[1]); os.Exit(3) }\n'
    (tmp_path / "exit.go").write_text(code)
    done = gosandbox(tmp_path, "run", str(tmp_path / "exit.go"), "--", "arg1")
    assert done.returncode == 3
    assert "arg1" in done.stderr
    assert "gosandbox: runtime_error" in done.stderr


def test_run_timeout_exits_124(tmp_path: Path) -> None:
    done = gosandbox(tmp_path, "run", str(EXAMPLES / "timeout.go"), "--wall-s", "1")
    assert done.returncode == 124
    assert "gosandbox: timeout, the program got SIGKILL; exit 124" in done.stderr  # the line says the code
    assert _cli_sandboxes() == []


def test_test_vet_fmt(tmp_path: Path, package: Path) -> None:
    done = gosandbox(tmp_path, "test", str(package))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--- PASS: TestData" in done.stdout
    assert gosandbox(tmp_path, "vet", str(package)).returncode == 0
    listed = gosandbox(tmp_path, "fmt", str(package))
    assert (listed.returncode, listed.stdout.split()) == (1, ["calc.go", "calc_test.go"])  # as gofmt -l in CI
    assert gosandbox(tmp_path, "fmt", "--write", str(package)).returncode == 0
    assert (package / "calc.go").read_text() == "package calc\n\nfunc Add(a, b int) int { return a + b }\n"
    clean = gosandbox(tmp_path, "fmt", str(package))
    assert (clean.returncode, clean.stdout) == (0, "")
    assert _cli_sandboxes() == []


def test_doctor_passes_on_this_machine(tmp_path: Path) -> None:
    done = gosandbox(tmp_path, "doctor")
    assert done.returncode == 0, done.stdout
    assert "profile in force: gosandbox's own profile" in done.stdout


READ_A_NAME = (
    'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\n'
    "func main() {\n\tname, err := bufio.NewReader(os.Stdin).ReadString('\\n')\n"
    '\tif err != nil {\n\t\tfmt.Println("read error:", err)\n\t\tos.Exit(1)\n\t}\n\tfmt.Print("hi ", name)\n}\n'
)


def test_piped_stdin_reaches_the_program_unless_no_stdin(tmp_path: Path) -> None:
    program = tmp_path / "interactive.go"
    program.write_text(READ_A_NAME)
    piped = gosandbox(tmp_path, "run", str(program), stdin="Alice\n")
    assert (piped.returncode, piped.stdout) == (0, "hi Alice\n")
    refused = gosandbox(tmp_path, "run", "--no-stdin", str(program), stdin="Alice\n")
    assert (refused.returncode, refused.stdout) == (1, "read error: EOF\n")


def test_every_limit_is_a_flag(tmp_path: Path) -> None:
    flood = tmp_path / "flood.go"
    flood.write_text('package main\n\nimport "fmt"\n\nfunc main() { for { fmt.Println("xxxxxxxx") } }\n')
    capped = gosandbox(tmp_path, "run", str(flood), "--output-bytes", "100", "--pids", "100", "--cpus", "1.5")
    assert capped.returncode == 141, (capped.returncode, capped.stderr)
    assert len(capped.stdout) <= 100
    unknown = gosandbox(tmp_path, "run", str(EXAMPLES / "hello.go"), "--go-version", "go1.2")
    assert unknown.returncode == 125  # gosandbox refused the request: not the program's code
    assert "not installed" in unknown.stderr
    assert "--go-version" in gosandbox(tmp_path, "test", "--help").stdout


def test_version_flag(tmp_path: Path) -> None:
    done = gosandbox(tmp_path, "--version")
    assert (done.returncode, done.stdout) == (0, "gosandbox, version 0.1.0\n")

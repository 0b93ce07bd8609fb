"""The command line against the real engine, on the Docker backend: exit codes and output as documented.

(tests/sandbox/test_cli_commands.py runs the commands on the default backend, and on a server.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import INSTANCE_LABEL, LABEL
from support.docker_helpers import TEST_INSTANCE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def gosandbox(tmp_path: Path, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOSANDBOX_STATE_DIR": str(tmp_path / "state"), "GOSANDBOX_INSTANCE": f"{TEST_INSTANCE}-cli"}
    command = [sys.executable, "-m", "gosandbox.cli.main", *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
                          cwd=cwd)  # fmt: skip


def gosandbox_bytes(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GOSANDBOX_STATE_DIR": str(tmp_path / "state"), "GOSANDBOX_INSTANCE": f"{TEST_INSTANCE}-cli"}
    command = [sys.executable, "-m", "gosandbox.cli.main", *args]
    return subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)


def _cli_sandboxes() -> list[str]:
    """Run sandboxes of any CLI process of this test run (the builder stays warm for the next command)."""
    containers = connect().api.containers(all=True, filters={"label": LABEL})
    prefix = f"{TEST_INSTANCE}-cli"
    return [c["Id"] for c in containers if c["Labels"].get(INSTANCE_LABEL, "").startswith(prefix)
            and c["Labels"].get("gosandbox.role") != "builder"]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _reap_the_kept_builder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    done = gosandbox(tmp_path_factory.mktemp("reap"), "reap")
    assert done.returncode == 0, done.stderr
    containers = connect().api.containers(all=True, filters={"label": LABEL})
    assert not [c for c in containers if c["Labels"].get(INSTANCE_LABEL, "").startswith(f"{TEST_INSTANCE}-cli")]


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
    assert done.stdout == "ok  \texample.com/calc\t2 passed, 0 failed, 0 skipped\n"  # passing tests are quiet
    assert gosandbox(tmp_path, "vet", str(package)).returncode == 0
    listed = gosandbox(tmp_path, "fmt", str(package))
    assert (listed.returncode, listed.stdout.split()) == (1, [f"{package}/calc.go", f"{package}/calc_test.go"])
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


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_every_position_names_the_users_own_path(tmp_path: Path) -> None:
    _write(tmp_path / "work", {
        "typo.go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Prinln("hi")\n}\n',
        "crash.go": "package main\n\nfunc main() {\n\tvar m map[string]int\n\tm[\"x\"] = 1\n}\n",
        "ugly.go": "package main\nfunc main() {  }\n",
        "calc/go.mod": "module example.com/calc\n\ngo 1.22\n",
        "calc/calc.go": 'package calc\n\nimport "fmt"\n\nfunc Add(a, b int) int {\n'
                        '\tif a > 100 { fmt.Printf("%d\\n", a, b) }\n\treturn a + b\n}\n',
        "calc/calc_test.go": 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
                             '\tt.Log("adding")\n\tif Add(1, 2) != 4 {\n\t\tt.Error("wrong sum")\n\t}\n}\n',
    })  # fmt: skip
    typo = gosandbox(tmp_path, "run", "work/typo.go", cwd=tmp_path)
    assert typo.returncode == 2
    assert "work/typo.go:6:6: undefined: fmt.Prinln" in typo.stderr
    crash = gosandbox(tmp_path, "run", "work/crash.go", cwd=tmp_path)
    assert "\twork/crash.go:5 +0x" in crash.stderr  # the stack trace's frame of main
    assert "main.go" not in typo.stderr + crash.stderr
    vet = gosandbox(tmp_path, "vet", "calc", cwd=tmp_path / "work")
    assert vet.stdout == "calc/calc.go:6:15: fmt.Printf call needs 1 arg but has 2 args (printf)\n"
    ugly = gosandbox(tmp_path, "fmt", "work/ugly.go", cwd=tmp_path)
    assert (ugly.returncode, ugly.stdout) == (1, "work/ugly.go\n")
    (tmp_path / "work/calc/calc.go").write_text("package calc\n\nfunc Add(a, b int) int { return a + b }\n")
    tested = gosandbox(tmp_path, "test", "work/calc", cwd=tmp_path)
    assert tested.stdout.startswith(
        "--- FAIL: TestAdd (0.00s)\n    work/calc/calc_test.go:6: adding\n    work/calc/calc_test.go:8: wrong sum\n"
    ), tested.stdout
    assert _cli_sandboxes() == []


def test_run_writes_the_programs_bytes_unchanged(tmp_path: Path) -> None:
    # 0xff alone, a truncated emoji, a NUL and a carriage return: none of them is valid or printable UTF-8 text
    raw = b"\xff|\xf0\x9f|\x00|\r\n"
    literal = "".join(f"\\x{byte:02x}" for byte in raw)
    program = _write(
        tmp_path,
        {
            "bytes.go": f'package main\n\nimport "os"\n\nfunc main() {{\n'
            f'\tos.Stdout.WriteString("{literal}")\n\tos.Stderr.WriteString("{literal}")\n}}\n'
        },
    )
    done = gosandbox_bytes(tmp_path, "run", str(program / "bytes.go"))
    assert (done.returncode, done.stdout, done.stderr) == (0, raw, raw)


PRINTS_AND_LOGS = {
    "go.mod": "module example.com/order\n\ngo 1.22\n",
    "order.go": "package order\n\nfunc Double(n int) int { return 2 * n }\n",
    "order_test.go": """package order

import (
	"fmt"
	"testing"
)

func TestFails(t *testing.T) {
	t.Log("before")
	t.Error("broken")
}

func TestSkips(t *testing.T) { t.Skip("later") }

func TestParent(t *testing.T) {
	fmt.Println("printed by the test")
	t.Run("ok", func(t *testing.T) { t.Log("quiet") })
	t.Run("bad", func(t *testing.T) { t.Error("inner") })
}

func BenchmarkNothing(b *testing.B) {
	for i := 0; i < b.N; i++ {
	}
}
""",
}


def test_test_prints_in_the_order_things_happened(tmp_path: Path) -> None:
    folder = _write(tmp_path / "order", PRINTS_AND_LOGS)
    failed = gosandbox(tmp_path, "test", "order", cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stdout == (
        "--- FAIL: TestFails (0.00s)\n"
        "    order/order_test.go:9: before\n"
        "    order/order_test.go:10: broken\n"
        "printed by the test\n"
        "--- FAIL: TestParent (0.00s)\n"
        "    --- FAIL: TestParent/bad (0.00s)\n"
        "        order/order_test.go:18: inner\n"
        "FAIL\n"
        "FAIL\texample.com/order\t1 passed, 3 failed, 1 skipped\n"
    )
    benched = gosandbox(tmp_path, "test", str(folder), "--run", "TestSkips", "--bench", ".", "--cover")
    lines = benched.stdout.splitlines()
    assert benched.returncode == 0, benched.stdout
    assert lines[0] == "goos: linux"  # the header comes before the rows, as go test prints it
    assert lines[4].startswith("BenchmarkNothing")
    assert lines[4].endswith(" ns/op")
    assert lines[-1] == "ok  \texample.com/order\t0 passed, 0 failed, 1 skipped; coverage 0.0% of statements"

"""``gosandbox explain --server``: against the app on a real socket, whose fake builder answers one real compile
(tests/data/explain/rich); what it prints, its exit codes. (On this host's backend: tests/sandbox/test_explain.py.)"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.cli.explain import explain_command, parse_lines
from support.app_helpers import make_settings
from support.inprocess_server import uvicorn_serving

RICH = Path(__file__).parent.parent / "data" / "explain" / "rich"
RECORDS = {path.relative_to(RICH / "records").as_posix(): path.read_text() for path in (RICH / "records").rglob("*")
           if path.is_file()}  # fmt: skip
FAILED = "# sandbox\n./bad.go:4:2: declared and not used: x\n"


def _compile(job: BuildJob) -> BuildOutcome:
    if "x := 1" in job.files.get("bad.go", ""):
        return BuildOutcome(False, FAILED, None, 0.1)
    return BuildOutcome(True, (RICH / "output.txt").read_text(), None, 0.2, files=RECORDS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(make_settings(tmp_path_factory.mktemp("state")), backend=FakeBackend(build=_compile))
    with uvicorn_serving(app) as url:
        yield url


@pytest.fixture
def package(tmp_path: Path) -> Path:
    shutil.copytree(RICH / "src", tmp_path / "rich")
    return tmp_path / "rich"


def explain(server: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(explain_command, [*args, "--server", server], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_decisions_one_a_line_at_the_users_paths(server: str, package: Path) -> None:
    code, out, _ = explain(server, str(package))
    assert code == 0
    lines = out.splitlines()
    assert f"{package}/main.go:14:9: escapes: &T{{...}} escapes to heap" in lines
    assert f"{package}/main.go:17:6: can_inline: can inline add (cost: 4)" in lines
    assert f"{package}/sub/sub.go:3:6: can_inline: can inline Double (cost: 4)" in lines
    assert "ADDQ" not in out  # no assembly unless asked


def test_one_functions_assembly_after_the_decisions_of_a_kind(server: str, package: Path) -> None:
    code, out, _ = explain(server, str(package), "-f", "add", "--kind", "bounds_check")
    assert code == 0
    assert out.splitlines() == [
        f"{package}/main.go:27:41: bounds_check: index bounds check",
        f"{package}/main.go:36:48: bounds_check: slice bounds check",
        "",
        f"main.add  {package}/main.go:17",
        "    17  TEXT main.add(SB), NOSPLIT|NOFRAME|ABIInternal, $0-16",
        "    17  ADDQ BX, AX",
        "    17  RET",
    ]


def test_lines_of_a_file_and_json(server: str, package: Path) -> None:
    code, out, _ = explain(server, str(package), "--lines", "27", "--file", f"{package}/main.go", "--json")
    assert code == 0
    result = json.loads(out)
    assert [f["function"] for f in result["assembly"]] == ["main.next", "main.main"]
    assert {i["line"] for f in result["assembly"] for i in f["instructions"]} == {27}


def test_a_compile_error_exits_2_with_the_errors_on_stderr(server: str, tmp_path: Path) -> None:
    source = tmp_path / "bad.go"
    source.write_text("package main\n\nfunc main() {\n\tx := 1\n}\n")
    code, out, err = explain(server, str(source))
    assert (code, out) == (2, "")
    assert f"{source}:4:2: declared and not used: x" in err


@pytest.mark.parametrize("text", ["0", "5-3", "a", "3-b"])
def test_bad_lines_are_a_usage_error(server: str, package: Path, text: str) -> None:
    code, _, err = explain(server, str(package), "--lines", text)
    assert code == 2
    assert "--lines" in err


def test_parse_lines() -> None:
    assert parse_lines("12") == (12, 12)
    assert parse_lines("12-20") == (12, 20)

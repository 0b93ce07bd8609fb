"""The piston-client npm package (run by Node) against a live server on real Docker: Piston's answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.docker_helpers import TEST_INSTANCE, serving

JS = Path(__file__).parents[1] / "js"


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not (JS / "node_modules" / "piston-client").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `make test-deps` (scripts/ensure-node.sh)")
    with serving(tmp_path_factory.mktemp("piston"), f"{TEST_INSTANCE}-piston") as server:
        done = subprocess.run(["node", "piston_check.mjs", server.url], cwd=JS, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_runtimes_list_the_toolchain(answers: dict[str, Any]) -> None:
    first = answers["runtimes"][0]
    assert first["language"] == "go"
    assert first["aliases"] == ["golang"]
    assert first["version"].count(".") == 2
    assert not first["version"].startswith("go")


def test_ok_run_with_output_in_order(answers: dict[str, Any]) -> None:
    ok = answers["ok"]
    assert ok["language"] == "go"
    assert ok["version"] == answers["runtimes"][0]["version"]
    run = ok["run"]
    assert (run["stdout"], run["stderr"], run["code"], run["signal"], run["status"]) == (
        "hello\nbye\n", "warn\n", 0, None, None)  # fmt: skip
    assert run["output"] == "hello\nwarn\nbye\n"  # as written: the job's event stream keeps the order
    assert run["wall_time"] >= 0
    assert ok["compile"]["code"] == 0


def test_compile_error_shows_the_compiler(answers: dict[str, Any]) -> None:
    answer = answers["compileError"]
    assert answer["compile"]["code"] == 1
    assert answer["run"]["status"] == "RE"
    assert "undefined: undefined" in answer["run"]["stderr"]
    assert "undefined: undefined" in answer["run"]["output"]


def test_timeout(answers: dict[str, Any]) -> None:
    run = answers["timeout"]["run"]
    assert (run["status"], run["signal"], run["code"]) == ("TO", "SIGKILL", None)
    assert 1000 <= run["wall_time"] < 5000


def test_stdin_and_args(answers: dict[str, Any]) -> None:
    # piston-client sends the stdin as given; the server ends it with a newline as Piston does
    assert answers["stdinArgs"]["run"]["stdout"] == '"hi there\\n" ["x" "y z"]\n'


def test_several_files_form_one_package(answers: dict[str, Any]) -> None:
    assert answers["multiFile"]["run"]["stdout"] == "from another file\n"


def test_above_the_cap_is_a_400_message(answers: dict[str, Any]) -> None:
    assert "run_timeout=3.6e+06 ms" in answers["tooLong"]["message"]

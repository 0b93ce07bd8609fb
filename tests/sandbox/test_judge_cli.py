"""``gosandbox judge SOLUTION DIR`` on the problem directories of tests/data/problems: on this host (the default
backend and runtime) and through a server (GOSANDBOX_URL); one line per case, exit 0 only when all pass."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.app import create_app
from support.cli_runs import Cli
from support.docker_helpers import TEST_INSTANCE, docker_settings
from support.inprocess_server import uvicorn_serving

PROBLEMS = Path(__file__).parent.parent / "data" / "problems"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    command = Cli(tmp_path_factory.mktemp("cli"), f"{TEST_INSTANCE}-judgecli")
    yield command
    command.reap()


def test_an_accepted_solution_on_this_host(cli: Cli) -> None:
    done = cli("judge", str(PROBLEMS / "average/submissions/accepted/mean.go"), str(PROBLEMS / "average"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["sample/1", "accepted"], ["sample/2", "accepted"], ["secret/1-large", "accepted"], ["secret/2-one", "accepted"]
    ]  # fmt: skip
    assert re.fullmatch(r"sample/1 +accepted +\d+ ms CPU +\d+\.\d MiB", lines[0]), lines[0]
    assert re.fullmatch(r"accepted: 4/4 cases accepted in \d+ ms", lines[4]), lines[4]


def test_a_wrong_answer_through_a_server_says_what_the_validator_said(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = docker_settings(tmp_path_factory.mktemp("server"), instance=f"{TEST_INSTANCE}-judgesrv",
                               backend="auto", runtime="auto")  # fmt: skip
    solution, problem = PROBLEMS / "divisor/submissions/wrong_answer/one.go", PROBLEMS / "divisor"
    with uvicorn_serving(create_app(settings)) as url:
        done = cli("judge", "--lazy", str(solution), str(problem), env={"GOSANDBOX_URL": url})
    assert done.returncode == 1, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].endswith("  1 is not a proper divisor of 12"), lines[0]
    assert [line.split()[:2] for line in lines[1:3]] == [["secret/1", "skipped"], ["secret/2", "skipped"]]
    assert lines[3].startswith("wrong_answer: 0/3 cases accepted")

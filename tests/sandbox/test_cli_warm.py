"""The builder the commands keep warm between invocations: adopted by the next command when its image and
configuration are the same, replaced when not, never shared by two commands at once, removed by ``gosandbox reap``."""

from __future__ import annotations

import fcntl
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.backends.docker.engine import connect
from support.cli_runs import Cli
from support.docker_helpers import TEST_INSTANCE

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("%s") }\n'


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    command = Cli(tmp_path / "state", f"{TEST_INSTANCE}-warm")
    yield command
    command.reap()


def run_hello(cli: Cli, env: dict[str, str] | None = None) -> None:
    """Run a program not run before: it is built (the binary cache knows the ones that were)."""
    word = f"warm {next(_RUNS)}"
    (cli.state_dir.parent / "hello.go").write_text(HELLO % word)
    done = cli("run", str(cli.state_dir.parent / "hello.go"), env=env)
    assert (done.returncode, done.stdout) == (0, f"{word}\n".encode()), done.stderr


_RUNS = itertools.count()


def running(container_id: str) -> bool:
    return bool(connect().api.inspect_container(container_id)["State"]["Running"])


def test_the_next_command_adopts_the_builder_and_no_run_sandbox_is_left(cli: Cli) -> None:
    run_hello(cli)
    builders = cli.containers(role="builder")
    assert len(builders) == 1
    assert running(builders[0])
    assert cli.containers() == builders  # the run sandboxes went with the command
    run_hello(cli)
    assert cli.containers() == builders  # the same builder built it: none was started


def test_a_builder_of_another_configuration_is_replaced(cli: Cli) -> None:
    run_hello(cli)
    [first] = cli.containers(role="builder")
    run_hello(cli, {"GOSANDBOX_BUILDER_MEMORY_MB": "1536"})
    [second] = cli.containers(role="builder")
    assert second != first
    assert connect().api.inspect_container(second)["HostConfig"]["Memory"] == 1536 * 1024 * 1024


def test_a_builder_that_stopped_is_replaced(cli: Cli) -> None:
    run_hello(cli)
    [first] = cli.containers(role="builder")
    connect().api.kill(first)
    run_hello(cli)
    [second] = cli.containers(role="builder")
    assert second != first


def test_a_builder_whose_state_directory_was_removed_is_replaced(cli: Cli) -> None:
    run_hello(cli)
    [first] = cli.containers(role="builder")
    shutil.rmtree(cli.state_dir)  # its /builds is a directory that is no more, whatever is made at its path
    run_hello(cli)
    [second] = cli.containers(role="builder")
    assert second != first


def test_a_command_that_finds_the_builder_taken_runs_with_its_own(cli: Cli) -> None:
    run_hello(cli)
    [kept] = cli.containers(role="builder")
    with (cli.state_dir / f"{cli.kept}.lock").open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a command running now would hold it
        run_hello(cli)
    assert cli.containers() == [kept]  # the other command's own builder is gone, the kept one untouched
    assert running(kept)


def test_reap_removes_the_kept_builder(cli: Cli) -> None:
    run_hello(cli)
    assert cli.containers(role="builder")
    cli.reap()  # and asserts that nothing of the commands' instance is left

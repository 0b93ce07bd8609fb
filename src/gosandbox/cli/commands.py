"""The commands that take a Go package: ``run``, ``test``, ``vet``, ``fmt`` (here or on a server), ``submit``.

Heavy imports (the Docker SDK, the job stack, httpx) happen inside the commands, so that ``gosandbox --help``
and the other commands do not pay for them.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from gosandbox.cli.exits import fail
from gosandbox.errors import GosandboxError
from gosandbox.settings import Settings

if TYPE_CHECKING:
    from gosandbox.backends.live import LiveStdin
    from gosandbox.cli.package import LocalPackage
    from gosandbox.cli.tools import Request, Tools


@functools.cache
def settings() -> Settings:
    """The settings of this invocation, from ``GOSANDBOX_*`` (read once)."""
    return Settings()


F = TypeVar("F", bound=Callable[..., None])

_LIMIT_OPTIONS = [
    click.option("--wall-s", type=float, help="wall-clock limit in seconds"),
    click.option("--memory-mb", type=int, help="memory limit in MiB (swap is off)"),
    click.option("--cpus", type=float, help="CPU quota in cores"),
    click.option("--pids", type=int, help="most processes and threads at once"),
    click.option("--output-bytes", type=int, help="stdout+stderr kept; past it the program is stopped"),
    click.option("--cpu-ms", type=int, help="CPU-time limit in ms (all the program's processes)"),
    click.option("--go-version", help="a toolchain this host has (default: the pinned one)"),
    click.option("--race", is_flag=True, help="build with the race detector: a data race ends it with exit 66"),
]

_SERVER_OPTIONS = [
    click.option("--server", envvar="GOSANDBOX_URL", metavar="URL",
                 help="run it on this gosandbox server (default: GOSANDBOX_URL; unset: on this host)"),
    click.option("--api-key", envvar="GOSANDBOX_API_KEY", help="the server's API key (default: GOSANDBOX_API_KEY)"),
]  # fmt: skip


def limit_options(command: F) -> F:
    """The limits of the server's requests, as flags (within the same caps)."""
    for option in reversed(_LIMIT_OPTIONS):
        command = option(command)
    return command


def server_options(command: F) -> F:
    """Where the command runs: a server's URL (and key), or this host."""
    for option in reversed(_SERVER_OPTIONS):
        command = option(command)
    return command


@contextmanager
def tools(server: str | None, api_key: str | None) -> Iterator[Tools]:
    """The tools on ``server``, or on this host when there is none."""
    if server:
        from gosandbox.cli.remote import server_tools  # noqa: PLC0415 - httpx only for a server

        with server_tools(server, api_key) as remote:
            yield remote
    else:
        from gosandbox.cli.local import local_tools  # noqa: PLC0415 - the backends only on this host

        with local_tools(settings()) as local:
            yield local


def _request(package: LocalPackage, limits: dict[str, Any], *, stdin: bytes = b"",
             args: tuple[str, ...] = ()) -> Request:  # fmt: skip
    """The package and what the limit flags (``limits``, as click gives them, and --race) asked for."""
    from gosandbox.cli.tools import Request  # noqa: PLC0415

    asked = {name: value for name, value in limits.items() if name not in ("go_version", "race")}
    overrides = {name: value for name, value in asked.items() if value is not None}
    return Request(package.files, stdin, args, overrides, limits.get("go_version"), bool(limits.get("race")))


def _interactive(asked: bool | None, ours: bool) -> LiveStdin | None:
    """The live stdin of an interactive run: asked for, or by default when our stdin is a terminal."""
    from gosandbox.backends.live import LiveStdin  # noqa: PLC0415

    terminal = sys.stdin is not None and sys.stdin.isatty()
    wanted = asked if asked is not None else ours and terminal
    return LiveStdin() if wanted and ours else None


def _stdin_of(stdin_file: IO[bytes] | None, no_stdin: bool) -> bytes:
    """--stdin FILE; else ours when it is a pipe or a file, not a terminal; nothing with --no-stdin."""
    from gosandbox.source import MAX_STDIN_BYTES  # noqa: PLC0415

    if stdin_file is not None:
        return stdin_file.read(MAX_STDIN_BYTES + 1)
    if no_stdin or sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)  # one byte more than allowed: the check refuses it


def _exit_with(command: Callable[[], int]) -> None:
    try:
        code = command()
    except GosandboxError as exc:
        fail(exc)
    sys.exit(code)


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("args", nargs=-1)
@click.option("--stdin", "stdin_file", type=click.File("rb"), help="feed this file to the program ('-': our stdin)")
@click.option("--no-stdin", is_flag=True, help="give the program an empty stdin even when ours is piped")
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="attach our stdin to the running program as it is typed (default: when it is a terminal)",
)
@limit_options
@server_options
def run(path: Path, args: tuple[str, ...], stdin_file: IO[bytes] | None, no_stdin: bool, interactive: bool | None,
        server: str | None, api_key: str | None, **limits: Any) -> None:  # fmt: skip
    """Run PATH (a .go file or a package) and exit with its exit code.

    PATH is a .go file or a package directory. Arguments after `--` go to the program: gosandbox run main.go -- -n 3

    Standard input: when ours is piped or redirected (echo Ada | gosandbox run main.go), the
    program reads it all at its start. From a terminal the run is interactive: what is typed reaches
    the program a line at a time as it runs, Ctrl-D ends its input and Ctrl-C sends it SIGINT
    (--interactive does this with a pipe too; --no-interactive gives it none). --stdin FILE feeds a
    file instead, and --no-stdin gives it nothing.

    It runs on this host, on the backend and runtime `gosandbox serve` uses (a builder stays warm
    for the next command; `gosandbox reap` removes it), or with --server on that server.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import run_once  # noqa: PLC0415

    live = _interactive(interactive, stdin_file is None and not no_stdin)

    def run_it() -> int:
        package = read_package(path)
        stdin = b"" if live is not None else _stdin_of(stdin_file, no_stdin)
        request = replace(_request(package, limits, stdin=stdin, args=args), live=live)
        with tools(server, api_key) as where:
            return run_once(where, package, request)

    _exit_with(run_it)


@click.command("test")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--run", "run_pattern", help="-run: regular expression selecting tests")
@click.option("--cover", is_flag=True, help="report statement coverage")
@click.option("--bench", help="-bench: regular expression selecting benchmarks")
@click.option("--fuzz", help="-fuzz: the fuzz target to run (for --fuzztime)")
@click.option("--fuzztime", default="5s", show_default=True)
@click.option("-v", "verbose", is_flag=True, help="print every line, as go test -v does")
@limit_options
@server_options
def test_command(path: Path, run_pattern: str | None, cover: bool, bench: str | None, fuzz: str | None,
                 fuzztime: str, verbose: bool, server: str | None, api_key: str | None,
                 **limits: Any) -> None:  # fmt: skip
    """Test the package at PATH in a sandbox; exit 1 if a test fails.

    Prints what go test prints, in order, then a line counting passed, failed and skipped tests.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import go_test_once  # noqa: PLC0415
    from gosandbox.gotest import TestOptions  # noqa: PLC0415

    def test() -> int:
        options = TestOptions(run=run_pattern, cover=cover, bench=bench, fuzz=fuzz, fuzztime=fuzztime)
        package = read_package(path)  # a package we cannot read starts no sandbox
        with tools(server, api_key) as where:
            return go_test_once(where, package, _request(package, limits), options, verbose=verbose)

    _exit_with(test)


@click.command("vet")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@server_options
def vet_command(path: Path, server: str | None, api_key: str | None) -> None:
    """Report go vet findings for PATH; exit 1 if there are any."""
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import vet_once  # noqa: PLC0415

    def vet() -> int:
        package = read_package(path)
        with tools(server, api_key) as where:
            return vet_once(where, package)

    _exit_with(vet)


@click.command("fmt")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--write", is_flag=True, help="write the formatted files back")
@server_options
def fmt_command(path: Path, write: bool, server: str | None, api_key: str | None) -> None:
    """gofmt the package at PATH in a sandbox; list files that change.

    Exit 1 when a file is not formatted (as gofmt -l in CI), 0 when all are or after --write.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import fmt_once  # noqa: PLC0415

    def fmt() -> int:
        package = read_package(path)
        with tools(server, api_key) as where:
            return fmt_once(where, package, write=write)

    _exit_with(fmt)


@click.command("submit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["run", "test", "vet", "fmt"]), default="run", show_default=True)
@click.option("--wait", "wait_s", type=click.FloatRange(0, 60), default=0, help="wait up to S seconds for the end")
@click.option("--follow", is_flag=True, help="print the program's output live, then exit with its exit code")
@click.option(
    "--url",
    "--server",
    "url",
    envvar="GOSANDBOX_URL",
    default=None,
    help="the server (default: GOSANDBOX_URL, else http://GOSANDBOX_HOST:GOSANDBOX_PORT)",
)
@click.option("--api-key", envvar="GOSANDBOX_API_KEY", help="the server's API key (default: GOSANDBOX_API_KEY)")
def submit_command(path: Path, kind: str, wait_s: float, follow: bool, url: str | None,
                   api_key: str | None) -> None:  # fmt: skip
    """Submit PATH to a running server as a job; print the submission.

    PATH is a .go file or a package directory. --follow prints the program's output as it is
    written and exits as `run` does.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.remote import reachable  # noqa: PLC0415
    from gosandbox.cli.submit import exit_code_of, follow_output, submission_document  # noqa: PLC0415
    from gosandbox.client.http import Client  # noqa: PLC0415

    url = url or f"http://{settings().host}:{settings().port}"
    try:
        package = read_package(path)
        with reachable(url), Client(url, api_key) as client:
            submission = client.submit(kind=kind, files=package.files, wait_s=wait_s or None)
            if follow:
                sys.exit(exit_code_of(follow_output(client, submission.id, package.rewrite)))
    except GosandboxError as exc:
        fail(exc)
    click.echo(json.dumps(submission_document(submission), indent=2))
    sys.exit(exit_code_of(submission) if submission.finished else 0)


#: Every command of this module, for the ``gosandbox`` group.
COMMANDS = (run, test_command, vet_command, fmt_command, submit_command)

"""The ``gosandbox`` command: serve, run, image build, doctor, reap."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from gosandbox._version import __version__
from gosandbox.cli.keys import keys

if TYPE_CHECKING:
    from gosandbox.cli.run import Sizing
from gosandbox.errors import GosandboxError
from gosandbox.logs import configure_logging
from gosandbox.settings import Settings


@functools.cache
def _settings() -> Settings:
    return Settings()


#: Exit code of a command when gosandbox itself failed (as `docker run` and `timeout` use it).
SERVICE_FAILED = 125


def _fail(exc: GosandboxError) -> None:
    hint = f"\nhint: {exc.hint}" if exc.hint else ""
    click.echo(f"gosandbox: {exc}{hint}", err=True)
    sys.exit(SERVICE_FAILED)


@click.group()
@click.version_option(__version__, prog_name="gosandbox")
@click.option(
    "--log-level", default=None, help="debug, info, warning (default: GOSANDBOX_LOG_LEVEL for serve, else warning)"
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Run untrusted Go code in hardened, throwaway Docker sandboxes.

    \b
    Exit codes of run (and submit --follow):
      0-255  the program's own exit code (128+N: killed by signal N)
      2      compile error (messages on stderr), or a wrong command line
      124    timeout: the wall-clock limit killed the program
      137    memory limit: the memory cgroup killed the program
      141    output limit: the program passed --output-bytes and was stopped
      125    gosandbox itself failed (Docker down, images missing, bad request)
    test, vet and fmt exit 0 when all is well, 1 when a test fails, vet finds
    something or a file is not formatted, and 125 when gosandbox failed.
    """
    server = ctx.invoked_subcommand in ("serve", "worker", "mcp")
    default = _settings().log_level if server else "warning"
    configure_logging(log_level or default, _settings().log_format if server else "text")


@main.command()
@click.option("--host", default=None, help="address to listen on (default: GOSANDBOX_HOST or 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default: GOSANDBOX_PORT or 8080)")
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API.

    \b
    SIGINT or SIGTERM (Ctrl-C) drains: running jobs finish and are answered, then exit 0.
    A second one stops now: running sandboxes are killed, waiting requests get 503,
    queued and running /submissions jobs stay queued for the next start; exit 128+N
    (130 after a second Ctrl-C, 143 after a second SIGTERM).
    """
    from gosandbox.app import create_app  # noqa: PLC0415 - only this command needs the web stack
    from gosandbox.edge.serve import serve as serve_app  # noqa: PLC0415

    settings = _settings()
    # The address really listened on: /mcp's DNS-rebinding check depends on whether it is loopback.
    settings = settings.model_copy(update={"host": host or settings.host, "port": port or settings.port})
    serve_app(create_app(settings), settings, settings.host, settings.port)


_LIMIT_OPTIONS = [
    click.option("--wall-s", type=float, help="wall-clock limit in seconds"),
    click.option("--memory-mb", type=int, help="memory limit in MiB (swap is off)"),
    click.option("--cpus", type=float, help="CPU quota in cores"),
    click.option("--pids", type=int, help="most processes and threads at once"),
    click.option("--output-bytes", type=int, help="stdout+stderr kept; past it the program is stopped"),
    click.option("--go-version", help="a toolchain this host has (default: the pinned one)"),
]

F = TypeVar("F", bound=Callable[..., None])


def limit_options(command: F) -> F:
    """The limits of the server's requests, as flags (within the same caps)."""
    for option in reversed(_LIMIT_OPTIONS):
        command = option(command)
    return command


def _sizing(limits: dict[str, Any]) -> Sizing:
    from gosandbox.cli.run import Sizing  # noqa: PLC0415 - the Docker SDK loads only for commands that run

    overrides = {name: value for name, value in limits.items() if value is not None and name != "go_version"}
    return Sizing(overrides, limits["go_version"])


def _stdin_of(stdin_file: IO[bytes] | None, no_stdin: bool) -> bytes:
    """--stdin FILE; else ours when it is a pipe or a file, not a terminal; nothing with --no-stdin."""
    from gosandbox.source import MAX_STDIN_BYTES  # noqa: PLC0415

    if stdin_file is not None:
        return stdin_file.read(MAX_STDIN_BYTES + 1)
    if no_stdin or sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)  # one byte more than allowed: the check refuses it


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("args", nargs=-1)
@click.option("--stdin", "stdin_file", type=click.File("rb"), help="feed this file to the program ('-': our stdin)")
@click.option("--no-stdin", is_flag=True, help="give the program an empty stdin even when ours is piped")
@limit_options
def run(path: Path, args: tuple[str, ...], stdin_file: IO[bytes] | None, no_stdin: bool, **limits: Any) -> None:
    """Run PATH (a .go file or a package) and exit with its exit code.

    PATH is a .go file or a package directory. Arguments after `--` go to the program: gosandbox run main.go -- -n 3

    Standard input: when ours is piped or redirected (echo Ada | gosandbox run main.go), the
    program reads it; from a terminal it gets none. --stdin FILE feeds a file instead, and
    --no-stdin gives it nothing.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import run_once  # noqa: PLC0415

    try:
        code = run_once(_settings(), read_package(path), stdin=_stdin_of(stdin_file, no_stdin), args=args,
                        sizing=_sizing(limits))  # fmt: skip
    except GosandboxError as exc:
        _fail(exc)
    sys.exit(code)


@main.command("test")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--run", "run_pattern", help="-run: regular expression selecting tests")
@click.option("--cover", is_flag=True, help="report statement coverage")
@click.option("--bench", help="-bench: regular expression selecting benchmarks")
@click.option("--fuzz", help="-fuzz: the fuzz target to run (for --fuzztime)")
@click.option("--fuzztime", default="5s", show_default=True)
@click.option("-v", "verbose", is_flag=True, help="print every line, as go test -v does")
@limit_options
def test_command(path: Path, run_pattern: str | None, cover: bool, bench: str | None, fuzz: str | None,
                 fuzztime: str, verbose: bool, **limits: Any) -> None:  # fmt: skip
    """Test the package at PATH in a sandbox; exit 1 if a test fails.

    Prints what go test prints, in order, then a line counting passed, failed and skipped tests.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import go_test_once  # noqa: PLC0415
    from gosandbox.gotest import TestOptions  # noqa: PLC0415

    def test() -> int:
        options = TestOptions(run=run_pattern, cover=cover, bench=bench, fuzz=fuzz, fuzztime=fuzztime)
        return go_test_once(_settings(), read_package(path), options, verbose=verbose, sizing=_sizing(limits))

    _exit_with(test)


@main.command("vet")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def vet_command(path: Path) -> None:
    """Report go vet findings for PATH; exit 1 if there are any."""
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import vet_once  # noqa: PLC0415

    _exit_with(lambda: vet_once(_settings(), read_package(path)))


@main.command("fmt")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--write", is_flag=True, help="write the formatted files back")
def fmt_command(path: Path, write: bool) -> None:
    """gofmt the package at PATH in a sandbox; list files that change.

    Exit 1 when a file is not formatted (as gofmt -l in CI), 0 when all are or after --write.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.run import fmt_once  # noqa: PLC0415

    _exit_with(lambda: fmt_once(_settings(), read_package(path), write=write))


def _exit_with(command: Callable[[], int]) -> None:
    try:
        code = command()
    except GosandboxError as exc:
        _fail(exc)
    sys.exit(code)


@main.command()
@click.option("--concurrency", type=int, default=None, help="jobs at once (default: GOSANDBOX_MAX_CONCURRENT_RUNS)")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None, help="serve /metrics on this port")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="address of the /metrics server")
def worker(concurrency: int | None, metrics_port: int | None, metrics_host: str) -> None:
    """Run jobs from GOSANDBOX_QUEUE_URL on this host's Docker engine.

    It serves until SIGTERM (a second one stops it at once).

    Each worker process needs its own GOSANDBOX_INSTANCE; several may share a host.
    With --metrics-port, Prometheus scrapes the runs this worker executes at /metrics.
    """
    from gosandbox.wiring import run_worker  # noqa: PLC0415

    settings = _settings()
    if settings.queue_url is None:
        click.echo("gosandbox: a worker needs GOSANDBOX_QUEUE_URL=redis://host:port/N", err=True)
        sys.exit(2)
    if metrics_port is not None:
        from gosandbox.metrics import serve_metrics  # noqa: PLC0415

        serve_metrics(metrics_port, metrics_host)
    try:
        run_worker(settings, concurrency or settings.max_concurrent_runs)
    except GosandboxError as exc:
        _fail(exc)


@main.command("mcp")
def mcp_command() -> None:
    """Serve the MCP tools on stdin/stdout, for LLM agents (run_go, test_go, vet_go, format_go, list_toolchains).

    \b
    Jobs run on this host's Docker engine, each in a fresh sandbox. Logs go to stderr.
    It stops when stdin closes, or at SIGTERM/SIGINT, and removes its sandboxes first.
    The HTTP server (gosandbox serve) offers the same tools at /mcp.
    """
    from gosandbox.mcp.stdio import serve_stdio  # noqa: PLC0415 - the MCP SDK loads only for this command
    from gosandbox.wiring import local_service  # noqa: PLC0415

    try:
        serve_stdio(_settings(), local_service)
    except GosandboxError as exc:
        _fail(exc)


@main.command("submit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["run", "test", "vet", "fmt"]), default="run", show_default=True)
@click.option("--wait", "wait_s", type=click.FloatRange(0, 60), default=0, help="wait up to S seconds for the end")
@click.option("--follow", is_flag=True, help="print the program's output live, then exit with its exit code")
@click.option("--url", default=None, help="the server (default: http://GOSANDBOX_HOST:GOSANDBOX_PORT)")
def submit_command(path: Path, kind: str, wait_s: float, follow: bool, url: str | None) -> None:
    """Submit PATH to a running server as a job; print the submission.

    PATH is a .go file or a package directory. --follow prints the program's output as it is
    written and exits as `run` does.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415
    from gosandbox.cli.submit import exit_code_of, follow_events, submit  # noqa: PLC0415

    settings = _settings()
    url = url or f"http://{settings.host}:{settings.port}"
    try:
        submission = submit(url, {"kind": kind, "files": read_package(path).files}, wait_s=wait_s)
        if follow:
            submission = follow_events(url, submission["id"])
            sys.exit(exit_code_of(submission))
    except GosandboxError as exc:
        _fail(exc)
    click.echo(json.dumps(submission, indent=2))
    sys.exit(exit_code_of(submission) if submission.get("state") in ("done", "failed", "cancelled") else 0)


@main.group()
def db() -> None:
    """The submission database (SQLite by default, or PostgreSQL).

    GOSANDBOX_DATABASE_URL chooses it; the default is a SQLite file in the state directory.
    """


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every schema migration not yet applied (the server and workers also do it at start)."""
    from gosandbox.jobs.migrate import current_revision  # noqa: PLC0415
    from gosandbox.wiring import open_store  # noqa: PLC0415

    try:
        store = open_store(_settings())
    except GosandboxError as exc:
        _fail(exc)
    click.echo(f"database schema at revision {current_revision(store.engine)}")


main.add_command(keys)


@main.group()
def image() -> None:
    """Build the sandbox images (offline, from the pinned Go toolchain)."""


@image.command("build")
def image_build() -> None:
    """Build the builder and runner images unless they are current."""
    from gosandbox.backends.docker.backend import connect  # noqa: PLC0415
    from gosandbox.backends.docker.images import build_images  # noqa: PLC0415

    settings = _settings()
    try:
        built = build_images(connect(timeout_s=900), base_image=settings.go_image, toolchains=settings.toolchains(),
                             progress=lambda line: click.echo(f"  {line}", err=True))  # fmt: skip
    except GosandboxError as exc:
        _fail(exc)
    for names in built:
        click.echo(f"{names.go_version}: builder {names.builder}, runner {names.runner}")


@main.command()
def doctor() -> None:
    """Check the set-up and say how to fix what is missing."""
    from gosandbox.cli.doctor import run_checks  # noqa: PLC0415

    failures = 0
    for check in run_checks(_settings()):
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            failures += 1
            click.echo(f"       fix: {check.fix}")
    sys.exit(1 if failures else 0)


@main.command()
@click.option("--all-instances", is_flag=True, help="every instance's sandboxes on this engine, others' too")
def reap(all_instances: bool) -> None:
    """Remove the sandboxes a crashed server of this instance left.

    This instance is GOSANDBOX_INSTANCE; --all-instances removes those of every gosandbox on
    the engine, other users' included.
    """
    from gosandbox.backends.docker.backend import connect  # noqa: PLC0415
    from gosandbox.backends.docker.reaper import reap as reap_sandboxes  # noqa: PLC0415

    settings = _settings()
    try:
        removed = reap_sandboxes(connect(), None if all_instances else settings.instance)
    except GosandboxError as exc:
        _fail(exc)
    click.echo(f"removed {removed} sandbox(es)")


if __name__ == "__main__":
    main()

"""The ``gosandbox`` command: serve, run, image build, doctor, reap."""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import click

from gosandbox.errors import GosandboxError
from gosandbox.settings import Settings


@functools.cache
def _settings() -> Settings:
    return Settings()


def _fail(exc: GosandboxError) -> None:
    hint = f"\nhint: {exc.hint}" if exc.hint else ""
    click.echo(f"gosandbox: {exc}{hint}", err=True)
    sys.exit(2)


@click.group()
@click.option(
    "--log-level", default=None, help="debug, info, warning (default: GOSANDBOX_LOG_LEVEL for serve, else warning)"
)
@click.pass_context
def main(ctx: click.Context, log_level: str | None) -> None:
    """Run untrusted Go code in hardened, throwaway Docker sandboxes."""
    default = _settings().log_level if ctx.invoked_subcommand in ("serve", "worker") else "warning"
    logging.basicConfig(level=(log_level or default).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default=None, help="address to listen on (default: GOSANDBOX_HOST or 127.0.0.1)")
@click.option("--port", default=None, type=int, help="port (default: GOSANDBOX_PORT or 8080)")
def serve(host: str | None, port: int | None) -> None:
    """Serve the HTTP API."""
    import uvicorn  # noqa: PLC0415 - only this command needs it

    from gosandbox.api import create_app  # noqa: PLC0415

    settings = _settings()
    app = create_app(settings)
    # uvicorn drains on SIGTERM/SIGINT, restores the previous handlers and raises the signal
    # again; these handlers let a drained server exit 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: None)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.max_wall_s + settings.build_timeout_s),
    )


@main.command(context_settings={"ignore_unknown_options": False})
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("args", nargs=-1)
@click.option("--stdin", "stdin_file", type=click.File("rb"), help="file fed to the program's stdin ('-' for ours)")
@click.option("--wall-s", type=float, help="wall-clock limit in seconds")
@click.option("--memory-mb", type=int, help="memory limit in MiB")
def run(
    path: Path,
    args: tuple[str, ...],
    stdin_file: IO[bytes] | None,
    wall_s: float | None,
    memory_mb: int | None,
) -> None:
    """Run PATH (a .go file or a package directory); exit with the program's exit code.

    Arguments after `--` go to the program: gosandbox run main.go -- -n 3
    """
    from gosandbox.cli_run import read_package, run_once  # noqa: PLC0415

    overrides = {k: v for k, v in {"wall_s": wall_s, "memory_mb": memory_mb}.items() if v is not None}
    stdin = stdin_file.read() if stdin_file is not None else b""
    try:
        code = run_once(_settings(), read_package(path), stdin=stdin, args=args, overrides=overrides)
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
@click.option("-v", "verbose", is_flag=True, help="print every test's output")
@click.option("--wall-s", type=float, help="wall-clock limit in seconds")
def test_command(path: Path, run_pattern: str | None, cover: bool, bench: str | None, fuzz: str | None,
                 fuzztime: str, verbose: bool, wall_s: float | None) -> None:  # fmt: skip
    """Run the tests of the package at PATH in a sandbox; exit 1 if any fails."""
    from gosandbox.cli_run import read_package, test_once  # noqa: PLC0415
    from gosandbox.gotest import TestOptions  # noqa: PLC0415

    def test() -> int:
        options = TestOptions(run=run_pattern, cover=cover, bench=bench, fuzz=fuzz, fuzztime=fuzztime)
        return test_once(_settings(), read_package(path), options, verbose=verbose, wall_s=wall_s)

    _exit_with(test)


@main.command("vet")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def vet_command(path: Path) -> None:
    """Report go vet findings for the package at PATH; exit 1 if there are any."""
    from gosandbox.cli_run import read_package, vet_once  # noqa: PLC0415

    _exit_with(lambda: vet_once(_settings(), read_package(path)))


@main.command("fmt")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--write", is_flag=True, help="write the formatted files back")
def fmt_command(path: Path, write: bool) -> None:
    """gofmt the package at PATH (in a sandbox); list the files that change."""
    from gosandbox.cli_run import fmt_once, read_package  # noqa: PLC0415

    _exit_with(lambda: fmt_once(_settings(), path, read_package(path), write=write))


def _exit_with(command: Callable[[], int]) -> None:
    try:
        code = command()
    except GosandboxError as exc:
        _fail(exc)
    sys.exit(code)


@main.command()
@click.option("--concurrency", type=int, default=None, help="jobs at once (default: GOSANDBOX_MAX_CONCURRENT_RUNS)")
def worker(concurrency: int | None) -> None:
    """Run jobs from the queue (GOSANDBOX_QUEUE_URL) on this host's Docker engine until SIGTERM.

    Each worker process needs its own GOSANDBOX_INSTANCE; several may share a host.
    """
    from gosandbox.wiring import run_worker  # noqa: PLC0415

    settings = _settings()
    if settings.queue_url is None:
        click.echo("gosandbox: a worker needs GOSANDBOX_QUEUE_URL=redis://host:port/N", err=True)
        sys.exit(2)
    try:
        run_worker(settings, concurrency or settings.max_concurrent_runs)
    except GosandboxError as exc:
        _fail(exc)


@main.command("submit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["run", "test", "vet", "fmt"]), default="run", show_default=True)
@click.option("--wait", "wait_s", type=click.FloatRange(0, 60), default=0, help="wait up to S seconds for the end")
@click.option("--follow", is_flag=True, help="print the program's output live, then exit with its exit code")
@click.option("--url", default=None, help="the server (default: http://GOSANDBOX_HOST:GOSANDBOX_PORT)")
def submit_command(path: Path, kind: str, wait_s: float, follow: bool, url: str | None) -> None:
    """Submit PATH (a .go file or a package directory) to a server as a job; print the submission."""
    from gosandbox.cli_run import read_package  # noqa: PLC0415
    from gosandbox.cli_submit import exit_code_of, follow_events, submit  # noqa: PLC0415

    settings = _settings()
    url = url or f"http://{settings.host}:{settings.port}"
    try:
        submission = submit(url, {"kind": kind, "files": read_package(path)}, wait_s=wait_s)
        if follow:
            submission = follow_events(url, submission["id"])
            sys.exit(exit_code_of(submission))
    except GosandboxError as exc:
        _fail(exc)
    click.echo(json.dumps(submission, indent=2))
    sys.exit(exit_code_of(submission) if submission.get("state") in ("done", "failed", "cancelled") else 0)


@main.group()
def db() -> None:
    """The submission database (GOSANDBOX_DATABASE_URL, default SQLite in the state directory)."""


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
    from gosandbox.doctor import run_checks  # noqa: PLC0415

    failures = 0
    for check in run_checks(_settings()):
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            failures += 1
            click.echo(f"       fix: {check.fix}")
    sys.exit(1 if failures else 0)


@main.command()
@click.option("--all-instances", is_flag=True, help="remove the sandboxes of every gosandbox instance")
def reap(all_instances: bool) -> None:
    """Remove sandboxes a crashed server left behind."""
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

"""The ``gosandbox`` command: serve, run, image build, doctor, reap."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import IO

import click

from gosandbox.errors import GosandboxError
from gosandbox.settings import Settings

_SOURCE_NAMES = ("go.mod", "go.sum")


def _settings() -> Settings:
    return Settings()


def _fail(exc: GosandboxError) -> None:
    hint = f"\nhint: {exc.hint}" if exc.hint else ""
    click.echo(f"gosandbox: {exc}{hint}", err=True)
    sys.exit(2)


def read_package(path: Path) -> dict[str, str]:
    """A .go file as main.go, or a directory's *.go, go.mod and go.sum (recursively)."""
    if path.is_file():
        return {"main.go": path.read_text(encoding="utf-8")}
    files = {}
    for item in sorted(path.rglob("*")):
        if item.is_file() and (item.suffix == ".go" or item.name in _SOURCE_NAMES):
            files[item.relative_to(path).as_posix()] = item.read_text(encoding="utf-8")
    return files


@click.group()
@click.option("--log-level", default=None, help="debug, info, warning (default: GOSANDBOX_LOG_LEVEL or info)")
def main(log_level: str | None) -> None:
    """Run untrusted Go code in hardened, throwaway Docker sandboxes."""
    level = (log_level or _settings().log_level).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
    from gosandbox.cli_run import run_once  # noqa: PLC0415

    overrides = {k: v for k, v in {"wall_s": wall_s, "memory_mb": memory_mb}.items() if v is not None}
    stdin = stdin_file.read() if stdin_file is not None else b""
    try:
        code = run_once(_settings(), read_package(path), stdin=stdin, args=args, overrides=overrides)
    except GosandboxError as exc:
        _fail(exc)
    sys.exit(code)


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
        names = build_images(
            connect(timeout_s=900),
            base_image=settings.go_image,
            progress=lambda line: click.echo(f"  {line}", err=True),
        )
    except GosandboxError as exc:
        _fail(exc)
    click.echo(f"builder: {names.builder}\nrunner:  {names.runner}")


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

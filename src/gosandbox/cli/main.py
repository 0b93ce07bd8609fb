"""The ``gosandbox`` command: serve, run, image build, doctor, reap."""

from __future__ import annotations

import sys

import click

from gosandbox._version import __version__
from gosandbox.cli.commands import COMMANDS
from gosandbox.cli.commands import settings as _settings
from gosandbox.cli.exits import fail
from gosandbox.cli.explain import explain_command
from gosandbox.cli.judge import judge_command
from gosandbox.cli.keys import keys
from gosandbox.errors import GosandboxError
from gosandbox.logs import configure_logging


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
        fail(exc)


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
        fail(exc)


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
        fail(exc)
    click.echo(f"database schema at revision {current_revision(store.engine)}")


main.add_command(keys)
main.add_command(explain_command)
main.add_command(judge_command)
for _command in COMMANDS:
    main.add_command(_command)


@main.group()
def image() -> None:
    """Build the sandbox images (offline, from the pinned Go toolchain)."""


@image.command("build")
def image_build() -> None:
    """Build the builder and runner images unless they are current."""
    from gosandbox.backends.docker.engine import connect  # noqa: PLC0415
    from gosandbox.backends.docker.images import build_images  # noqa: PLC0415
    from gosandbox.backends.docker.race_image import build_race_builder  # noqa: PLC0415

    settings = _settings()
    progress = lambda line: click.echo(f"  {line}", err=True)  # noqa: E731
    try:
        client = connect(timeout_s=900)
        built = build_images(client, base_image=settings.go_image, toolchains=settings.toolchains(), progress=progress)
        race = build_race_builder(client, built[0], progress)  # the pinned toolchain's, for race: true
    except GosandboxError as exc:
        fail(exc)
    for names in built:
        click.echo(f"{names.go_version}: builder {names.builder}, runner {names.runner}")
    click.echo(f"{built[0].go_version}: race builder {race}")


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
    """Remove the sandboxes a crashed server of this instance left, and the builder run, test, vet and fmt keep.

    This instance is GOSANDBOX_INSTANCE (the commands' builder is GOSANDBOX_INSTANCE-cli's); --all-instances
    removes those of every gosandbox on the engine, other users' included.
    """
    from gosandbox.backends.docker.engine import connect  # noqa: PLC0415
    from gosandbox.backends.docker.reaper import reap as reap_sandboxes  # noqa: PLC0415
    from gosandbox.cli.local import cli_instance  # noqa: PLC0415

    instance = _settings().instance
    try:
        client = connect()
        if all_instances:
            removed = reap_sandboxes(client, None)
        else:
            removed = sum(reap_sandboxes(client, name) for name in (instance, cli_instance(instance)))
    except GosandboxError as exc:
        fail(exc)
    click.echo(f"removed {removed} sandbox(es)")


if __name__ == "__main__":
    main()

"""The command line's public surface: every command and option a user or a script may rely on stays; and the
commands that run on this host load no more than they need (no SQL, no web framework: a second `gosandbox run`
answers in well under a second)."""

from __future__ import annotations

import subprocess
import sys

import click

from gosandbox.cli.main import main

#: Command -> options, as released (new options may join; none may go).
SURFACE = {
    "serve": {"--host", "--port"},
    "run": {"--stdin", "--no-stdin", "--wall-s", "--memory-mb", "--cpus", "--pids", "--output-bytes", "--go-version",
            "--race", "--server", "--api-key"},
    "test": {"--run", "--cover", "--bench", "--fuzz", "--fuzztime", "-v", "--wall-s", "--memory-mb", "--cpus", "--pids",
             "--output-bytes", "--go-version", "--race", "--server", "--api-key"},
    "vet": {"--server", "--api-key"},
    "fmt": {"--write", "--server", "--api-key"},
    "submit": {"--kind", "--wait", "--follow", "--url", "--server", "--api-key"},
    "worker": {"--concurrency", "--metrics-port", "--metrics-host"},
    "mcp": set(),
    "doctor": set(),
    "reap": {"--all-instances"},
    "db upgrade": set(),
    "image build": set(),
    "keys create": {"--name", "--rate", "--burst", "--daily", "--max-wall-s", "--max-memory-mb", "--admin"},
    "keys list": set(),
    "keys revoke": set(),
}  # fmt: skip


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= _commands(command, f"{prefix}{name} ")
        else:
            found[f"{prefix}{name}"] = command
    return found


def test_every_command_and_option_stays() -> None:
    commands = _commands(main)
    for name, options in SURFACE.items():
        assert name in commands, f"gosandbox {name} is gone"
        offered = {opt for param in commands[name].params for opt in param.opts if isinstance(param, click.Option)}
        assert options <= offered, f"gosandbox {name} lost {sorted(options - offered)}"


def test_the_server_comes_from_the_environment_too() -> None:
    commands = _commands(main)
    for name in ("run", "test", "vet", "fmt", "submit"):
        envvars = {param.envvar for param in commands[name].params if isinstance(param, click.Option)}
        assert {"GOSANDBOX_URL", "GOSANDBOX_API_KEY"} <= envvars, name


def test_running_on_this_host_loads_no_sql_and_no_web_framework() -> None:
    code = (
        "import sys\n"
        "import gosandbox.cli.main, gosandbox.cli.local, gosandbox.cli.run, gosandbox.go_tools\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'fastapi', 'starlette', 'httpx') if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout == "[]\n", loaded.stdout

"""The command's exit codes, in one place (``gosandbox --help`` lists them).

``run`` (and ``submit --follow``) exits with the program's own code, or with a verdict's code where the
program has none, as ``timeout(1)`` and shells do; every command exits :data:`SERVICE_FAILED` when
gosandbox itself failed, as ``docker run`` does.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from gosandbox.errors import GosandboxError
from gosandbox.models import Status

#: Exit code of a command when gosandbox itself failed (as `docker run` and `timeout` use it).
SERVICE_FAILED = 125

#: Exit codes of verdicts that have no program exit code.
EXIT_FOR_STATUS = {Status.COMPILE_ERROR: 2, Status.TIMEOUT: 124, Status.MEMORY_LIMIT: 137, Status.OUTPUT_LIMIT: 141}


def exit_code_for(status: Status, program_exit: int | None) -> int:
    """The command's exit code: the program's own for a runtime error, else the verdict's (see --help)."""
    if program_exit is not None and status is Status.RUNTIME_ERROR:
        return program_exit
    return EXIT_FOR_STATUS.get(status, 0)


def fail(exc: GosandboxError) -> NoReturn:
    """Say what failed (and how to fix it) on stderr; exit :data:`SERVICE_FAILED`."""
    hint = f"\nhint: {exc.hint}" if exc.hint else ""
    click.echo(f"gosandbox: {exc}{hint}", err=True)
    sys.exit(SERVICE_FAILED)

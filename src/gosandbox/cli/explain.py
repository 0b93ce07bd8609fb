"""``gosandbox explain PATH``: what the Go compiler decided about a package, and its assembly; nothing runs.

It prints one line per decision, as the compiler's ``-m`` does but with its kind (``main.go:8:9: escapes:
&T{...} escapes to heap``), then, when asked for, the assembly of each function with each instruction's
source line. On this host (the backend ``gosandbox serve`` would use, its builder kept warm) or, with
``--server``, on a server's POST /explain.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from gosandbox.cli.commands import server_options, settings
from gosandbox.cli.exits import EXIT_FOR_STATUS, fail
from gosandbox.cli.package import LocalPackage
from gosandbox.errors import GosandboxError
from gosandbox.explain import DecisionKind, ExplainOptions, ExplainResult
from gosandbox.models import Status

_KINDS = [kind.value for kind in DecisionKind]


def parse_lines(text: str) -> tuple[int, int]:
    """``12`` or ``12-20``: the first and last line, inclusive.

    >>> parse_lines("12"), parse_lines("12-20")
    ((12, 12), (12, 20))
    """
    first, _, last = text.partition("-")
    try:
        lines = (int(first), int(last or first))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a line (12) or a range (12-20)", param_hint="--lines") from None
    if not 1 <= lines[0] <= lines[1]:
        raise click.BadParameter(f"{text!r}: lines start at 1, the first before the last", param_hint="--lines")
    return lines


@click.command("explain")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--function", "-f", metavar="NAME", help="list this function's assembly: main.add, add, (*T).String")
@click.option("--lines", metavar="N[-M]", help="list the assembly of these source lines (of --file, else any file)")
@click.option("--file", "file_name", metavar="FILE", help="with --lines: the file they are in")
@click.option("--asm", "assembly", is_flag=True, help="list the assembly of every function")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(_KINDS), help="list only this kind (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print the whole answer as JSON, as POST /explain gives it")
@click.option("--go-version", help="a toolchain of the host or server (default: its first)")
@server_options
def explain_command(path: Path, function: str | None, lines: str | None, file_name: str | None, assembly: bool,
                    kinds: tuple[str, ...], as_json: bool, go_version: str | None, server: str | None,
                    api_key: str | None) -> None:  # fmt: skip
    """Show what the Go compiler decided about PATH (a .go file or a package); nothing runs.

    \b
    Each decision is a line: FILE:LINE:COL: KIND: MESSAGE, where KIND is escapes, moved_to_heap,
    does_not_escape, leaking_param, can_inline, cannot_inline, inlined_call, cannot_inline_call,
    devirtualized, bounds_check, bounds_check_elided, nil_check, copy or other.
    With --function, --lines or --asm the assembly follows, each instruction after its source line.
    Exit 0, or 2 when the package does not compile (the errors on stderr).
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415

    wanted = parse_lines(lines) if lines else None
    options = ExplainOptions(bool(assembly or function or wanted), function, file_name if wanted else None, wanted)
    try:
        package = read_package(path)
        options = _in_sandbox_names(options, package)
        result = _explain(package, options, go_version, server, api_key)
    except GosandboxError as exc:
        fail(exc)
    sys.exit(_print(result, package, set(kinds), as_json=as_json))


def _in_sandbox_names(options: ExplainOptions, package: LocalPackage) -> ExplainOptions:
    """--file as the user typed it (a path) or as the package names it."""
    by_path = {shown: name for name, shown in package.shown.items()}
    file = by_path.get(options.file, options.file) if options.file else None
    return ExplainOptions(options.assembly, options.function, file, options.lines)


def _explain(package: LocalPackage, options: ExplainOptions, go_version: str | None, server: str | None,
             api_key: str | None) -> ExplainResult:  # fmt: skip
    if server:
        from gosandbox.cli.remote import server_tools  # noqa: PLC0415 - httpx only for a server

        fields: dict[str, Any] = {key: value for key, value in asdict(options).items() if value is not None}
        if go_version is not None:
            fields["go_version"] = go_version
        with server_tools(server, api_key) as remote:
            return remote.client.explain(files=package.files, **fields)
    from gosandbox.cli.local import local_tools  # noqa: PLC0415 - the backends only on this host
    from gosandbox.go_tools import explain  # noqa: PLC0415
    from gosandbox.source import make_spec  # noqa: PLC0415

    with local_tools(settings()) as local:
        return explain(local.runner, make_spec(package.files, go_version=go_version), options)


def _print(result: ExplainResult, package: LocalPackage, kinds: set[str], *, as_json: bool) -> int:
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
        return 0 if result.status is Status.OK else EXIT_FOR_STATUS[Status.COMPILE_ERROR]
    if result.status is not Status.OK:
        click.echo(package.rewrite(result.compile_output).rstrip("\n"), err=True)
        return EXIT_FOR_STATUS[Status.COMPILE_ERROR]
    for d in result.decisions:
        if not kinds or d.kind.value in kinds:
            click.echo(f"{package.show(d.file)}:{d.line}:{d.column}: {d.kind.value}: {d.message}")
    for function in result.assembly:
        click.echo(f"\n{function.function}  {package.show(function.file)}:{function.line}")
        for instruction in function.instructions:
            where = "-" if instruction.line is None else str(instruction.line)
            click.echo(f"{where:>6}  {instruction.text}")
    if result.truncated:
        click.echo("gosandbox: the compiler said more than is shown (a very large package)", err=True)
    return 0

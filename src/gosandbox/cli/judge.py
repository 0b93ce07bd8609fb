"""``gosandbox judge SOLUTION DIR``: judge a solution on a problem directory (the Kattis / DOMjudge / ICPC
layout: ``data/sample/*.in`` + ``*.ans``, ``data/secret/...``, ``problem.yaml``, ``output_validators/``).

It prints one line per case (its name, verdict, time, memory and, when it failed, why), then the verdict,
and exits 0 only when every case is accepted. On this host (the backend ``gosandbox serve`` would use) or,
with ``--server``, on a server's POST /judge. See :mod:`gosandbox.judge.problem` for the layout.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from gosandbox.cli.commands import server_options, settings
from gosandbox.cli.exits import fail
from gosandbox.errors import GosandboxError
from gosandbox.judge.problem import Problem, load_problem
from gosandbox.judge.task import CaseResult, JudgeResult

#: Exit code when a case is not accepted (compile errors: 2, as ``run``'s).
EXIT_REJECTED = 1
EXIT_COMPILE_ERROR = 2


@click.command("judge")
@click.argument("solution", type=click.Path(exists=True, path_type=Path))
@click.argument("problem_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--wall-s", type=float, help="wall-clock limit of each case in seconds")
@click.option("--cpu-ms", type=int, help="CPU-time limit of each case in ms (a contest's time limit)")
@click.option("--memory-mb", type=int, help="memory limit of each case in MiB")
@click.option("--lazy", is_flag=True, help="stop at the first failing case (the rest: skipped)")
@click.option("--json", "as_json", is_flag=True, help="print the whole answer as JSON, as POST /judge gives it")
@click.option("--go-version", help="a toolchain of the host or server (default: its first)")
@server_options
def judge_command(solution: Path, problem_dir: Path, wall_s: float | None, cpu_ms: int | None,
                  memory_mb: int | None, lazy: bool, as_json: bool, go_version: str | None, server: str | None,
                  api_key: str | None) -> None:  # fmt: skip
    """Judge SOLUTION (a .go file or a package) on the problem in DIR.

    \b
    DIR holds data/sample/*.in with *.ans, data/secret/*.in with *.ans (subdirectories too),
    and optionally problem.yaml (validator_flags: float_tolerance E, case_sensitive,
    space_change_sensitive; validation: custom; type: interactive) and a validator in Go in
    output_validators/NAME/ (the checker, or the interactor of an interactive problem).
    One line per case: NAME VERDICT TIME MEMORY [why]. Exit 0 when all are accepted,
    2 on a compile error, 1 otherwise.
    """
    from gosandbox.cli.package import read_package  # noqa: PLC0415

    limits = {name: value for name, value in (("wall_s", wall_s), ("cpu_ms", cpu_ms), ("memory_mb", memory_mb))
              if value is not None}  # fmt: skip
    try:
        problem = load_problem(problem_dir)
        body = _body(read_package(solution).files, problem, limits, lazy, go_version)
        result = _judge(body, server, api_key)
    except GosandboxError as exc:
        fail(exc)
    sys.exit(_print(result, as_json=as_json))


def _body(files: dict[str, str], problem: Problem, limits: dict[str, Any], lazy: bool,
          go_version: str | None) -> dict[str, Any]:  # fmt: skip
    """POST /judge's body for the solution on the problem (the local run parses the same body)."""
    cases = [{"name": c.name, "stdin": c.stdin.decode("utf-8", "replace"), "expected_stdout": c.expected_stdout}
             for c in problem.cases]  # fmt: skip
    body: dict[str, Any] = {"files": files, "cases": cases, "stop_on_first_failure": lazy}
    if problem.validator is not None:
        body["interactor" if problem.interactive else "checker"] = {"files": problem.validator}
    else:
        compare = asdict(problem.comparison)
        body["compare"] = {**compare, "mode": problem.comparison.mode.value}
    if limits:
        body["limits"] = limits
    if go_version is not None:
        body["go_version"] = go_version
    return body


def _judge(body: dict[str, Any], server: str | None, api_key: str | None) -> JudgeResult:
    if server:
        from gosandbox.cli.remote import server_tools  # noqa: PLC0415 - httpx only for a server

        with server_tools(server, api_key) as remote:
            return remote.client.judge(**body)
    from gosandbox.cli.local import local_tools  # noqa: PLC0415 - the backends only on this host
    from gosandbox.edge.judge import JudgeRequest, judge_task  # noqa: PLC0415
    from gosandbox.judge.judging import judge  # noqa: PLC0415

    with local_tools(settings()) as local:
        task = judge_task(JudgeRequest.model_validate(body), local.settings)
        return judge(local.runner, task)


def _print(result: JudgeResult, *, as_json: bool) -> int:
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
    else:
        _print_lines(result)
    if result.status == "accepted":
        return 0
    return EXIT_COMPILE_ERROR if result.status == "compile_error" else EXIT_REJECTED


def _print_lines(result: JudgeResult) -> None:
    if not result.build.succeeded:
        click.echo(result.build.output.rstrip("\n"), err=True)
    if result.checker is not None and not result.checker.succeeded:
        click.echo("the validator does not compile:\n" + result.checker.output.rstrip("\n"), err=True)
    width = max((len(case.name) for case in result.cases), default=4)
    for case in result.cases:
        click.echo(_case_line(case, width))
    total = len(result.cases)
    click.echo(f"{result.status}: {result.passed}/{total} cases accepted in {result.timings_ms.get('total', 0)} ms")


def _case_line(case: CaseResult, width: int) -> str:
    """``sample/1  accepted  12 ms  1.4 MiB`` and, for a failure, why."""
    used = ""
    if case.cpu_time_ms is not None or case.wall_ms is not None:
        cpu = f"{case.cpu_time_ms} ms CPU" if case.cpu_time_ms is not None else f"{case.wall_ms} ms"
        memory = f"  {case.peak_memory_kb / 1024:.1f} MiB" if case.peak_memory_kb is not None else ""
        used = f"  {cpu}{memory}"
    why = case.feedback or (case.message if case.status not in ("accepted", "skipped") else None)
    return f"{case.name:<{width}}  {case.status:<13}{used}" + (f"  {why}" if why else "")

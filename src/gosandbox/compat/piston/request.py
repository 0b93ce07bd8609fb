"""Piston v2's ``POST /api/v2/execute`` body, translated into a run job (pure: tested by tables).

What Piston does and this does too: ``language`` and ``version`` are required strings (``version`` a
semver selector, the highest toolchain matching it runs); ``files[].encoding`` is ``utf8`` (the
default), ``base64`` or ``hex``; an unnamed file is ``file<i>.code``; the first utf8 file is the one run
(Piston's Go package renames it to ``<name>.go``: so do we), the other ``.go`` files join its package;
``stdin`` gets a trailing newline if it has none; a limit that is absent, ``0`` or ``-1`` takes the
server's default. Timeouts are milliseconds, memory limits bytes.

What differs, said in the README: ``run_timeout`` is our wall-clock limit, ``run_memory_limit`` our
memory limit (rounded up to whole MiB), ``run_cpu_time`` our CPU-time limit, all checked against our
caps (out of range: 400 with the reason); the build runs under the server's build limits, so
``compile_timeout``, ``compile_memory_limit`` and ``compile_cpu_time`` are only checked.
Binary files must decode to UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gosandbox.auth.context import request_limits
from gosandbox.compat.piston.semver import best_match
from gosandbox.edge.requests import check_json_size
from gosandbox.errors import InvalidRequest, LimitOutOfRange
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.limits import Limits
from gosandbox.settings import Settings
from gosandbox.source import make_spec, utf8_bytes

LANGUAGE = "go"
ALIASES = ("golang",)
_MIB = 1024 * 1024
_ENCODINGS = ("utf8", "base64", "hex")


@dataclass(frozen=True)
class PistonJob:
    """The job, and the names the answer uses for what ran."""

    job: JobRequest
    language: str
    version: str  # Piston's spelling of the toolchain: "1.27.3"


def piston_version(toolchain: str) -> str:
    """``go1.27.3`` -> ``1.27.3``: Piston versions are semver."""
    return toolchain.removeprefix("go")


def runtimes(toolchains: Sequence[str]) -> list[dict[str, Any]]:
    """``GET /api/v2/runtimes``: one entry per toolchain, the default first."""
    return [{"language": LANGUAGE, "version": piston_version(t), "aliases": list(ALIASES)} for t in toolchains]


def execute_job(body: bytes, settings: Settings, toolchains: Callable[[], Sequence[str]]) -> PistonJob:
    """The run job of an execute body; :class:`InvalidRequest` with Piston's message when it is not one."""
    fields = _json_object(body)
    language, selector = _required_string(fields, "language"), _required_string(fields, "version")
    files = _files(fields.get("files"))
    offered = {piston_version(t): t for t in toolchains()}
    chosen = best_match(offered, selector) if language in (LANGUAGE, *ALIASES) else None
    if chosen is None:
        raise InvalidRequest(f"{language[:40]}-{selector[:40]} runtime is unknown")
    spec = make_spec(files, stdin=_stdin(fields.get("stdin")), args=_args(fields.get("args")),
                     limits=_limits(fields, settings), go_version=offered[chosen])  # fmt: skip
    return PistonJob(JobRequest(Kind.RUN, spec), LANGUAGE, chosen)


def _json_object(body: bytes) -> dict[str, Any]:
    check_json_size(body)
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}"[:200]) from None
    if not isinstance(fields, dict):
        raise InvalidRequest("the body must be a JSON object")
    return fields


def _required_string(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not value or not isinstance(value, str):
        raise InvalidRequest(f"{name} is required as a string")
    return value


def _files(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        raise InvalidRequest("files is required as an array")
    files: dict[str, str] = {}
    run_first: str | None = None
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise InvalidRequest(f"files[{index}].content is required as a string")
        encoding = str(item.get("encoding")) if item.get("encoding") in _ENCODINGS else "utf8"
        given = item.get("name")
        name = given if isinstance(given, str) and given else f"file{index}.code"
        if encoding == "utf8" and run_first is None:
            run_first = name = name if name.endswith(".go") else name + ".go"
        files[name] = _decoded(item["content"], encoding, index)
    if run_first is None:
        raise InvalidRequest("files must include at least one utf8 encoded file")
    return files


def _decoded(content: str, encoding: str, index: int) -> str:
    if encoding == "utf8":
        return content
    try:
        data = base64.b64decode(content, validate=True) if encoding == "base64" else bytes.fromhex(content)
        return data.decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidRequest(f"files[{index}].content is not valid {encoding} of UTF-8 text: {exc}"[:200]) from None


def _stdin(value: Any) -> bytes:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidRequest("stdin must be a string")
    return utf8_bytes(value if value.endswith("\n") else value + "\n", "stdin")


def _args(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(arg, str) for arg in value):
        raise InvalidRequest("args must be an array of strings")
    return value


def _number(fields: dict[str, Any], name: str) -> float | None:
    """A limit as sent: None when absent, 0 or -1 (the server's default), else a non-negative number."""
    value = fields.get(name)
    if value is None or value in (0, -1):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(f"If specified, {name} must be a number")
    if value < 0:
        raise InvalidRequest(f"{name} must be non-negative")
    return float(value)


def _limits(fields: dict[str, Any], settings: Settings) -> Limits:
    _number(fields, "compile_cpu_time")
    _at_most(fields, "compile_timeout", settings.build_timeout_s * 1000)
    _at_most(fields, "compile_memory_limit", settings.builder_memory_mb * _MIB)
    overrides: dict[str, float | int] = {}
    timeout_ms, memory_bytes = _number(fields, "run_timeout"), _number(fields, "run_memory_limit")
    cpu_ms = _number(fields, "run_cpu_time")
    if timeout_ms is not None:
        overrides["wall_s"] = timeout_ms / 1000
    if memory_bytes is not None:
        overrides["memory_mb"] = math.ceil(memory_bytes / _MIB)
    if cpu_ms is not None:
        overrides["cpu_ms"] = math.ceil(cpu_ms)
    try:
        return request_limits(settings, overrides)  # our caps (and the API key's), our minimums
    except LimitOutOfRange as exc:
        asked = [f"run_timeout={timeout_ms:g} ms"] if timeout_ms is not None else []
        asked += [f"run_memory_limit={memory_bytes:g} bytes"] if memory_bytes is not None else []
        asked += [f"run_cpu_time={cpu_ms:g} ms"] if cpu_ms is not None else []
        raise InvalidRequest(f"{', '.join(asked)}: {exc}") from None


def _at_most(fields: dict[str, Any], name: str, configured: float) -> None:
    """A compile limit: checked against the server's build limit (the build always runs under that)."""
    value = _number(fields, name)
    if value is not None and value > configured:
        raise InvalidRequest(f"{name} cannot exceed the configured limit of {configured:g}")

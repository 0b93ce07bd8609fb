"""The client's values: what a call takes (the HTTP API's own field names) and what comes back, typed.

Results are the library's own classes (:class:`~gosandbox.models.RunResult` and the others), rebuilt
from JSON by one converter, :func:`from_json`, that follows their dataclass fields; a field the server
adds later is ignored, one it leaves out takes the dataclass default.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, TypedDict, TypeVar, Union

from gosandbox.client.errors import Problem
from gosandbox.explain import ExplainResult
from gosandbox.jobs.submission import Kind, State
from gosandbox.judge.task import JudgeResult
from gosandbox.models import FmtResult, RunResult, TestResult, VetResult

T = TypeVar("T")

#: What a finished submission's ``result`` is, by its kind.
Result = RunResult | TestResult | VetResult | FmtResult | ExplainResult | JudgeResult
RESULT_TYPES: dict[Kind, type[Result]] = {
    Kind.RUN: RunResult,
    Kind.TEST: TestResult,
    Kind.VET: VetResult,
    Kind.FMT: FmtResult,
    Kind.EXPLAIN: ExplainResult,
    Kind.JUDGE: JudgeResult,
}


class LimitsInput(TypedDict, total=False):
    """Per-run limits to change; each between the server's minimum and its cap (else 422)."""

    wall_s: float
    memory_mb: int
    cpus: float
    pids: int
    output_bytes: int
    cpu_ms: int


class SourceInput(TypedDict, total=False):
    """The package, as the HTTP API takes it: ``files`` or ``txtar`` (``code``, main.go, is each method's own
    first parameter), and a toolchain from ``GET /version``."""

    files: Mapping[str, str]
    txtar: str
    go_version: str


class RunInput(SourceInput, total=False):
    """``POST /run``: the package, its standard input (UTF-8), arguments and limits; ``race``: built with the race
    detector (``result.races``)."""

    stdin: str
    args: Sequence[str]
    limits: LimitsInput
    race: bool


class GoTestInput(SourceInput, total=False):
    """``POST /test``: the package, limits, and the options of ``go test`` (``run`` is ``-run``, ``race`` is
    ``-race``)."""

    limits: LimitsInput
    race: bool
    run: str
    count: int
    cover: bool
    short: bool
    bench: str
    benchtime: str
    fuzz: str
    fuzztime: str


class ExplainInput(SourceInput, total=False):
    """``POST /explain``: the package, and which part of its assembly to list (all of it by default):
    ``assembly=False`` for none, one ``function`` (``"main.add"`` or ``"add"``), the ``lines`` (first, last)
    of ``file`` (default: any file)."""

    limits: LimitsInput
    assembly: bool
    function: str
    lines: tuple[int, int]
    file: str


class CaseInput(TypedDict, total=False):
    """One test case of ``POST /judge``: its input, arguments and expected output (none: it only has to end ok)."""

    name: str
    stdin: str
    args: Sequence[str]
    expected_stdout: str


class CompareInput(TypedDict, total=False):
    """How ``POST /judge`` compares outputs: ``mode`` exact, lines (the default) or tokens; float tolerances."""

    mode: str
    float_abs: float
    float_rel: float
    case_sensitive: bool


class CheckerInput(TypedDict, total=False):
    """A Go output validator (Kattis's convention): ``code`` (main.go) or ``files``."""

    code: str
    files: Mapping[str, str]


class JudgeInput(SourceInput, total=False):
    """``POST /judge``: the package, its ``cases`` (1 to 1000), each case's limits, and a comparison or a checker."""

    cases: Sequence[CaseInput]
    limits: LimitsInput
    compare: CompareInput
    checker: CheckerInput
    stop_on_first_failure: bool


class SubmitInput(RunInput, GoTestInput, JudgeInput, total=False):
    """``POST /submissions``: any endpoint's fields (those of its ``kind``), and a ``callback_url``."""

    callback_url: str


def request_body(code: str | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a call: ``code`` as main.go if given, then the fields as sent (the server checks them)."""
    body: dict[str, Any] = {} if code is None else {"code": code}
    for name, value in fields.items():
        if isinstance(value, Mapping):
            body[name] = dict(value)  # files, limits
        elif isinstance(value, Sequence) and not isinstance(value, str):
            body[name] = list(value)  # args
        else:
            body[name] = value
    return body


@dataclass(frozen=True)
class Submission:
    """A job: ``state`` (queued → running → done | failed | cancelled), ``result`` once done, ``error`` if
    the *service* failed it. The program's verdict is ``result.status``."""

    id: str
    kind: Kind
    state: State
    result: Result | None
    error: Problem | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    worker: str | None
    go_version: str | None
    callback_url: str | None
    callback: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.state.finished

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Submission:
        kind = Kind(data["kind"])
        result, error = data.get("result"), data.get("error")
        return cls(
            id=str(data["id"]),
            kind=kind,
            state=State(data["state"]),
            result=None if result is None else from_json(RESULT_TYPES[kind], result),
            error=None if error is None else Problem.from_json(error),
            created_at=_time(data.get("created_at")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            attempts=int(data.get("attempts") or 0),
            worker=data.get("worker"),
            go_version=data.get("go_version"),
            callback_url=data.get("callback_url"),
            callback=data.get("callback"),
        )


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True)
class Event:
    """One event of a job's live stream: ``state``, ``compile``, ``stdout``/``stderr`` (``text``), then ``result``.

    ``data`` is the event's JSON; the last event, ``result``, also carries the final :class:`Submission`.
    """

    id: str
    name: str
    data: dict[str, Any]
    submission: Submission | None = None

    @property
    def text(self) -> str:
        """The chunk of output a ``stdout`` or ``stderr`` event carries ("" for the others)."""
        return str(self.data.get("text", ""))

    @classmethod
    def of(cls, event_id: str, name: str, data: dict[str, Any]) -> Event:
        submission = Submission.from_json(data) if name == "result" else None
        return cls(event_id, name, data, submission)


def from_json(cls: type[T], data: Any) -> T:
    """An instance of the dataclass ``cls`` from its JSON (``dataclasses.asdict``'s output), nested fields too."""
    return typing.cast(T, _convert(cls, data))


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _convert(next(a for a in args if a is not type(None)), value)
    if origin is list:
        return [_convert(args[0], item) for item in value]
    if origin is dict:
        return {key: _convert(args[1], item) for key, item in value.items()}
    return _convert_plain(hint, value) if isinstance(hint, type) else value


def _convert_plain(cls: type[Any], value: Any) -> Any:
    if dataclasses.is_dataclass(cls):
        hints = _field_types(cls)
        return cls(**{name: _convert(hints[name], value[name]) for name in hints if name in value})
    if issubclass(cls, Enum | float):
        return cls(value)  # a Status from its string; a float from a JSON integer
    return value


@functools.cache
def _field_types(cls: type[Any]) -> dict[str, Any]:
    """The resolved types of a dataclass's init fields (its annotations are strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}

"""A Judge0 submission in, a job out: its fields checked as Judge0 checks them, its limits as ours.

Refusals take Judge0's shapes: ``422 {"field": ["message"]}`` for a submission it would not save,
``400 {"error": "message"}`` for a request it would not read. Limits are translated to ours and
checked by :func:`gosandbox.auth.context.request_limits` (the server's caps, then the API key's):

- ``cpu_time_limit`` (s) → ``cpu_ms``, rounded up to whole milliseconds (the CPU time of all the program's
  processes; past it the verdict is Time Limit Exceeded); ``wall_time_limit`` (s) → ``wall_s``.
- ``memory_limit`` (KB) → ``memory_mb``, rounded up; ``max_processes_and_or_threads`` → ``pids``;
  ``max_file_size`` (KB) → ``output_bytes`` (ours caps stdout and stderr together).
- ``cpu_extra_time`` and ``stack_limit`` are checked against their maxima and kept, not used.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import shlex
import urllib.parse
from collections.abc import Callable
from typing import Any

from gosandbox.auth.context import request_limits
from gosandbox.compat.judge0.info import CALLBACK_SHAPE, MAX_BATCH, MAX_CPU_EXTRA_TIME_S, MAX_STACK_LIMIT_KB, Language
from gosandbox.edge.requests import check_json_size
from gosandbox.errors import InvalidRequest, LimitOutOfRange
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.limits import Limits
from gosandbox.settings import Settings
from gosandbox.source import make_spec

Errors = dict[str, list[str]]

#: Judge0 keeps these as text; with ``base64_encoded=true`` they travel encoded.
TEXT_FIELDS = ("source_code", "stdin", "expected_output")
#: Options Judge0 can switch off, off here, each refused with Judge0's own words when asked for.
_REFUSED_TEXT = {"compiler_options": "setting compiler options is not allowed",
                 "additional_files": "setting additional files is not allowed"}  # fmt: skip
_REFUSED_FLAGS = {"enable_network": "enabling network is not allowed",
                  "enable_per_process_and_thread_time_limit": "this option cannot be enabled",
                  "enable_per_process_and_thread_memory_limit": "this option cannot be enabled"}  # fmt: skip
#: Judge0 field → (our limit, its value in our unit).
_LIMITS: dict[str, tuple[str, Callable[[float], float | int]]] = {
    "cpu_time_limit": ("cpu_ms", lambda s: math.ceil(s * 1000)),
    "wall_time_limit": ("wall_s", float),
    "memory_limit": ("memory_mb", lambda kb: math.ceil(kb / 1024)),
    "max_processes_and_or_threads": ("pids", int),
    "max_file_size": ("output_bytes", lambda kb: int(kb) * 1024),
}
_UNITS = {"cpu_time_limit": "s", "wall_time_limit": "s", "memory_limit": "KB", "max_file_size": "KB"}
_MAX_OPTION_CHARS = 512
_SHELL_SPECIALS = str.maketrans("", "", "$&;<>|`")  # what Judge0 removes before its shell splits the words


class Judge0Rejected(Exception):
    """A request answered in Judge0's error shape."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(str(body))
        self.status_code, self.body = status_code, body


def invalid(errors: Errors) -> Judge0Rejected:
    return Judge0Rejected(422, errors)


def bad_request(message: str) -> Judge0Rejected:
    return Judge0Rejected(400, {"error": message})


def read_body(body: bytes, form: bool) -> Any:
    """A JSON body (empty counts as ``{}``), or a form post as Rails would read it."""
    if form:
        return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    if not body.strip():
        return {}
    try:
        check_json_size(body)  # the same ceiling as our own routes' bodies
        return json.loads(body)
    except InvalidRequest as exc:
        raise bad_request(str(exc)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("the body is not valid JSON: nested too deeply") from None


def _number(raw: Any, field: str, errors: Errors) -> float | None:
    """A number as Rails reads one (a numeric string counts); None when absent or not a number."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        errors[field] = ["is not a number"]
        return None
    try:
        value = float(raw)
    except ValueError:
        errors[field] = ["is not a number"]
        return None
    if not math.isfinite(value):
        errors[field] = ["is not a number"]
        return None
    return value


def _flag(raw: Any) -> bool:
    """Rails' boolean cast: true, "true", "1", 1 and the like are true."""
    return str(raw).strip().lower() in ("true", "1", "t", "yes", "on") if raw is not None else False


def _text(raw: Any, field: str, encoded: bool, errors: Errors) -> bytes | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        errors[field] = ["must be a string"]
        return None
    if not encoded:
        return raw.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(raw)  # not validated: like Ruby's decode64, characters outside Base64 are skipped
    except (binascii.Error, ValueError):
        errors[field] = ["is not valid Base64 (base64_encoded=true)"]
        return None


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _range(value: float | None, field: str, low: float, high: float, errors: Errors) -> None:
    if value is None:
        return
    if value < low:
        errors[field] = [f"must be greater than or equal to {_plain(low)}"]
    elif value > high:
        errors[field] = [f"must be less than or equal to {_plain(high)}"]


def _options(raw: dict[str, Any], errors: Errors) -> None:
    """Judge0's own checks of the options we keep or refuse."""
    for field, message in _REFUSED_TEXT.items():
        if str(raw.get(field) or "").strip():
            errors[field] = [message]
    for field, message in _REFUSED_FLAGS.items():
        if _flag(raw.get(field)):
            errors[field] = [message]
    runs = _number(raw.get("number_of_runs"), "number_of_runs", errors)
    if runs is not None and runs <= 0:
        errors["number_of_runs"] = ["must be greater than 0"]
    _range(runs, "number_of_runs", 0, 1, errors)
    _range(_number(raw.get("cpu_extra_time"), "cpu_extra_time", errors), "cpu_extra_time", 0,
           MAX_CPU_EXTRA_TIME_S, errors)  # fmt: skip
    _range(_number(raw.get("stack_limit"), "stack_limit", errors), "stack_limit", 0, MAX_STACK_LIMIT_KB, errors)


def arguments(raw: Any, errors: Errors) -> tuple[str, ...]:
    """``command_line_arguments`` as Judge0's shell sees them: its special characters removed, then split."""
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, str):
        errors["command_line_arguments"] = ["must be a string"]
        return ()
    if len(raw) > _MAX_OPTION_CHARS:
        errors["command_line_arguments"] = [f"is too long (maximum is {_MAX_OPTION_CHARS} characters)"]
        return ()
    try:
        return tuple(shlex.split(raw.strip().translate(_SHELL_SPECIALS)))
    except ValueError as exc:
        errors["command_line_arguments"] = [f"cannot be split into arguments as a shell would: {exc}"]
        return ()


def limits(raw: dict[str, Any], settings: Settings, errors: Errors) -> tuple[Limits, dict[str, float]]:
    """Our limits from Judge0's fields (each checked alone, to name it), and the fields as given."""
    given: dict[str, float] = {}
    overrides: dict[str, float | int] = {}
    for field, (ours, convert) in _LIMITS.items():
        value = _number(raw.get(field), field, errors)
        if value is None:
            continue
        given[field], converted = value, convert(value)
        try:
            request_limits(settings, {ours: converted})
        except LimitOutOfRange as exc:
            errors[field] = [f"{exc} (asked: {_plain(value)} {_UNITS.get(field, '')}".rstrip() + ")"]
            continue
        overrides[ours] = min(converted, overrides.get(ours, converted))
    if errors:
        return settings.default_limits(), given
    return request_limits(settings, overrides), given


def _language(raw: Any, offered: list[Language], errors: Errors) -> Language | None:
    if raw is None or raw == "":
        errors["language_id"] = ["can't be blank"]
        return None
    number = _number(raw, "language_id", errors)
    found = [language for language in offered if number is not None and language.id == number]
    if not found:
        errors["language_id"] = [f"language with id {str(raw)[:20]} doesn't exist"]
        return None
    return found[0]


def _decoded_texts(raw: dict[str, Any], encoded: bool, errors: Errors) -> dict[str, bytes | None]:
    texts = {field: _text(raw.get(field), field, encoded, errors) for field in TEXT_FIELDS}
    source = texts["source_code"]
    if source is None or not source.strip():
        errors.setdefault("source_code", ["can't be blank"])
    return texts


def _utf8(data: bytes | None, field: str, errors: Errors) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors[field] = [f"is not valid UTF-8 (byte {exc.start})"]
        return None


def _field_of(exc: InvalidRequest) -> str:
    """Which Judge0 field a refusal of the spec is about (it names stdin and arguments)."""
    text = str(exc).lower()
    return "stdin" if "stdin" in text else "command_line_arguments" if "argument" in text else "source_code"


def submission_job(
    raw: Any, encoded: bool, settings: Settings, offered: list[Language]
) -> tuple[JobRequest, str | None]:
    """One Judge0 submission as a run job and its callback URL; :class:`Judge0Rejected` (422) if Judge0 would not
    save it."""
    if not isinstance(raw, dict):
        raise bad_request("a submission is a JSON object")
    errors: Errors = {}
    texts = _decoded_texts(raw, encoded, errors)
    source, expected = _utf8(texts["source_code"], "source_code", errors), texts["expected_output"]
    language = _language(raw.get("language_id"), offered, errors)
    args = arguments(raw.get("command_line_arguments"), errors)
    _options(raw, errors)
    run_limits, given = limits(raw, settings, errors)
    if errors or source is None or language is None:
        raise invalid(errors)
    try:
        spec = make_spec({"main.go": source}, stdin=texts["stdin"] or b"", args=args, limits=run_limits,
                         go_version=language.go_version)  # fmt: skip
    except InvalidRequest as exc:
        raise invalid({_field_of(exc): [str(exc)]}) from None
    kept = {
        "language_id": language.id,
        "expected_output": None if expected is None else expected.decode("utf-8", "replace"),
        "redirect_stderr_to_stdout": _flag(raw.get("redirect_stderr_to_stdout")),
        "command_line_arguments": raw.get("command_line_arguments"),
        "given": {**given, **{k: float(raw[k]) for k in ("cpu_extra_time", "stack_limit") if raw.get(k) is not None}},
    }
    callback = raw.get("callback_url")
    if callback is not None and not isinstance(callback, str):
        raise invalid({"callback_url": ["must be a string"]})
    return JobRequest(Kind.RUN, spec, compat={"judge0": kept, "callback_shape": CALLBACK_SHAPE}), callback or None


def batch_items(raw: Any) -> list[Any]:
    """The ``submissions`` of a batch, 1 to :data:`MAX_BATCH` of them (else 400, as Judge0)."""
    items = raw.get("submissions") if isinstance(raw, dict) else None
    count = len(items) if isinstance(items, list) else 0
    if count > MAX_BATCH:
        raise bad_request(f"number of submissions in a batch should be less than or equal to {MAX_BATCH}")
    if not isinstance(items, list) or count == 0:
        raise bad_request("there should be at least one submission in a batch")
    return items

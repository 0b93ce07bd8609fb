"""A submission out, as Judge0 shows one: its 35 attributes, the ``fields`` asked for, Base64 or not.

Judge0's conventions kept: an empty stdout, stderr or compile output is ``null``; ``time``,
``wall_time`` and the time limits are decimal strings (``"0.012"``); ``memory`` is KB; a compile
error has no time, memory, output, exit code or message; ``exit_code`` of a program that ran but
did not exit (killed) is ``0``; with ``base64_encoded=true`` the texts and ``message`` are Base64 in
Ruby's layout (lines of 60 characters). ``time`` is the program's CPU time (``cpu_time_ms``),
``wall_time`` its run's wall time, ``memory`` the sandbox's peak (``peak_memory_kb``).

A Judge0 submission's callback is Judge0's too (``IsolateJob#call_callback``): ``PUT`` of the
default fields, Base64 forced: :data:`CALLBACK`, which the assembly hands to the webhooks.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from gosandbox.compat.judge0.info import CALLBACK_SHAPE, GO, STACK_LIMIT_KB, language_name
from gosandbox.compat.judge0.schemas import bad_request
from gosandbox.compat.judge0.status import COMPILATION_ERROR, signal_number, status_document, submission_status
from gosandbox.compat.order import ordered_chunks, stored_chunks
from gosandbox.jobs.submission import State, Submission, is_submission_id, iso
from gosandbox.jobs.webhooks import CallbackShape

#: Every attribute of a Judge0 1.13.1 submission, in its serializer's order (``fields=*``).
ATTRIBUTES = (
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at", "finished_at",
    "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit", "cpu_extra_time", "wall_time_limit",
    "memory_limit", "stack_limit", "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "compile_output", "exit_code", "exit_signal",
    "message", "wall_time", "compiler_options", "command_line_arguments", "redirect_stderr_to_stdout",
    "callback_url", "additional_files", "enable_network", "status", "language",
)  # fmt: skip
DEFAULT_FIELDS = ("token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status")
ENCODED = frozenset({"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output", "message"})
_CANCELLED = "cancelled (DELETE /submissions/{token}) before it finished"


def to_token(submission_id: str) -> str:
    """Judge0 tokens are UUIDs: our 32-digit id, dashed (the same digits, so no table maps them)."""
    return str(uuid.UUID(hex=submission_id))


def from_token(token: str) -> str | None:
    """The submission id in a token (dashed or not); None when it cannot be one."""
    digits = token.strip().replace("-", "").lower()
    return digits if is_submission_id(digits) else None


def requested_fields(raw: str | None) -> tuple[str, ...]:
    """``fields=a,b`` → those, ``*`` → every attribute, nothing → the defaults; unknown ones are a 400."""
    names = [name.strip() for name in (raw or "").split(",") if name.strip()]
    unknown = [name for name in names if name != "*" and name not in ATTRIBUTES]
    if unknown:
        raise bad_request(f"invalid fields: [{', '.join(name[:40] for name in unknown[:20])}]")
    if "*" in names:
        return ATTRIBUTES
    return tuple(name for name in ATTRIBUTES if name in names) or DEFAULT_FIELDS


def ruby_base64(data: bytes) -> str:
    """``Base64.encode64``: lines of 60 characters, each ending in a newline."""
    encoded = base64.b64encode(data).decode("ascii")
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def decimal(seconds: float | None) -> str | None:
    """A Rails decimal as JSON shows it: ``"0.012"``, ``"5.0"``."""
    if seconds is None:
        return None
    shown = f"{seconds:.3f}".rstrip("0")
    return shown + "0" if shown.endswith(".") else shown


def _interleaved(submission: Submission) -> str | None:
    """stdout and stderr in the order written (``redirect_stderr_to_stdout``), from the stored events."""
    result = submission.result or {}
    chunks = ordered_chunks(stored_chunks(submission.events or []), result)
    if chunks is None:  # events lost: the order is not known
        return (result.get("stdout", "") + result.get("stderr", "")) or None
    return "".join(text for _, text in chunks) or None


def _outputs(submission: Submission, kept: dict[str, Any]) -> dict[str, Any]:
    result = submission.result or {}
    compiled = result.get("status") not in (None, "compile_error")
    stdout = (result.get("stdout") or None) if compiled else None
    stderr = (result.get("stderr") or None) if compiled else None
    if compiled and kept.get("redirect_stderr_to_stdout"):
        stdout, stderr = _interleaved(submission), None
    timings = result.get("timings_ms") or {}
    cpu_ms = result.get("cpu_time_ms")
    return {
        "stdout": stdout, "stderr": stderr, "compile_output": result.get("compile_output") or None,
        "time": decimal(cpu_ms / 1000) if compiled and cpu_ms is not None else None,
        "wall_time": decimal(timings["run"] / 1000) if compiled and "run" in timings else None,
        "memory": result.get("peak_memory_kb") if compiled else None,
        "exit_code": _exit_code(result) if compiled else None,
        "exit_signal": signal_number(result.get("signal")) if compiled else None,
    }  # fmt: skip


def _exit_code(result: dict[str, Any]) -> int:
    """Isolate's: the code of a program that exited, else 0 (one killed by a signal has ``exit_signal``)."""
    return 0 if result.get("signal") is not None else int(result.get("exit_code") or 0)


def _message(submission: Submission, status_id: int) -> str | None:
    if submission.state is State.CANCELLED:
        return _CANCELLED.format(token=to_token(submission.id))
    if submission.state is State.FAILED:
        return str((submission.error or {}).get("detail") or "the service could not finish this job")
    if status_id == COMPILATION_ERROR or submission.result is None:
        return None
    message = submission.result.get("message")
    return str(message) if message else None


def _limits(submission: Submission, given: dict[str, Any]) -> dict[str, Any]:
    """The limits as Judge0 stores them: as sent, else this run's (our defaults) in Judge0's units."""
    ours = submission.request.get("limits") or {}
    wall = ours.get("wall_s")
    cpu = ours["cpu_ms"] / 1000 if ours.get("cpu_ms") is not None else wall  # no CPU limit: the wall one holds
    return {
        "cpu_time_limit": decimal(given.get("cpu_time_limit", cpu)),
        "wall_time_limit": decimal(given.get("wall_time_limit", wall)),
        "cpu_extra_time": decimal(given.get("cpu_extra_time", 0.0)),
        "memory_limit": int(given.get("memory_limit", (ours.get("memory_mb") or 0) * 1024)) or None,
        "stack_limit": int(given.get("stack_limit", STACK_LIMIT_KB)),
        "max_processes_and_or_threads": int(given.get("max_processes_and_or_threads", ours.get("pids") or 0)) or None,
        "max_file_size": int(given.get("max_file_size", (ours.get("output_bytes") or 0) // 1024)),
        "number_of_runs": 1,
        "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "enable_network": False,
    }


def _inputs(submission: Submission, kept: dict[str, Any]) -> dict[str, Any]:
    request = submission.request
    stdin = base64.b64decode(request["stdin_b64"]) if request.get("stdin_b64") else None
    return {
        "source_code": (request.get("files") or {}).get("main.go"),
        "stdin": stdin,
        "expected_output": kept.get("expected_output"),
        "compiler_options": None,
        "command_line_arguments": kept.get("command_line_arguments"),
        "redirect_stderr_to_stdout": bool(kept.get("redirect_stderr_to_stdout")),
        "callback_url": submission.callback_url,
        "additional_files": None,
    }


def attributes(submission: Submission) -> dict[str, Any]:
    """Every attribute, unencoded (texts as str or bytes). ``submission`` is read in full (request, events)."""
    kept = dict((submission.request.get("compat") or {}).get("judge0") or {})
    outputs = _outputs(submission, kept)
    status_id = submission_status(submission, kept.get("expected_output"), outputs["stdout"])
    version = (submission.result or {}).get("go_version") or submission.go_version
    language_id = int(kept.get("language_id", GO))
    return {
        **_inputs(submission, kept), **outputs, **_limits(submission, kept.get("given") or {}),
        "language_id": language_id, "language": {"id": language_id, "name": language_name(version)},
        "status_id": status_id, "status": status_document(status_id), "message": _message(submission, status_id),
        "token": to_token(submission.id), "created_at": iso(submission.created_at),
        "finished_at": iso(submission.finished_at),
    }  # fmt: skip


def _shown(name: str, value: Any, encoded: bool) -> Any:
    if isinstance(value, bytes):
        return ruby_base64(value) if encoded else value.decode("utf-8", "replace")
    if encoded and name in ENCODED and isinstance(value, str):
        return ruby_base64(value.encode("utf-8", "surrogatepass"))
    return value


def render(submission: Submission, fields: tuple[str, ...], encoded: bool) -> dict[str, Any]:
    """The submission's ``fields``, the texts Base64 when ``encoded``."""
    every = attributes(submission)
    return {name: _shown(name, every[name], encoded) for name in fields}


def callback_body(submission: Submission) -> dict[str, Any]:
    """What Judge0 1.13.1 PUTs to ``callback_url``: ``SubmissionSerializer.default_fields``, Base64 forced."""
    return render(submission, DEFAULT_FIELDS, True)


#: Judge0's callback, by the name its submissions give (:data:`~gosandbox.compat.judge0.info.CALLBACK_SHAPE`).
CALLBACK_SHAPES = {CALLBACK_SHAPE: CallbackShape("PUT", callback_body)}

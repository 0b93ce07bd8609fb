"""``gosandbox submit``: send a package to a running server as a job; wait for it, or follow it live.

Built on :class:`gosandbox.Client`: its retries after a ``429``/``503``, its typed errors, and its event
stream, which resumes after the last event seen when the server closes it early.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from gosandbox.cli.exits import SERVICE_FAILED, exit_code_for
from gosandbox.cli.remote import follow
from gosandbox.cli.tools import Live
from gosandbox.client.errors import Problem
from gosandbox.client.http import Client
from gosandbox.client.types import Submission
from gosandbox.jobs.submission import State
from gosandbox.models import FmtResult, RunResult, TestResult, VetResult


def follow_output(client: Client, submission_id: str, rewrite: Callable[[str], str]) -> Submission:
    """Print the compiler's messages (positions through ``rewrite``) and the program's output as they are
    written; return the final submission."""
    return follow(client, submission_id, Live(compiled=lambda text: _write("stderr", rewrite(text).encode()),
                                              output=_write))  # fmt: skip


def _write(stream: str, data: bytes) -> None:
    out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
    out.write(data)
    out.flush()


def exit_code_of(submission: Submission) -> int:
    """As `gosandbox run` exits for a run; 0/1 for test, vet, fmt; 125 when the service failed the job."""
    result = submission.result
    if submission.state is not State.DONE or result is None:
        return SERVICE_FAILED
    if isinstance(result, RunResult):
        return exit_code_for(result.status, result.exit_code)
    if isinstance(result, TestResult):
        return 0 if result.passed or result.status == "ok" else 1
    if isinstance(result, FmtResult):
        return 0 if result.ok else 1
    return 0 if isinstance(result, VetResult) and result.status == "ok" else 1


def submission_document(submission: Submission) -> dict[str, Any]:
    """The submission as JSON, in the server's own order of fields (``GET /submissions/{id}``)."""
    s = submission
    return {
        "id": s.id,
        "kind": s.kind.value,
        "state": s.state.value,
        "result": None if s.result is None else asdict(s.result),
        "error": None if s.error is None else _problem_document(s.error),
        "created_at": _iso(s.created_at),
        "started_at": _iso(s.started_at),
        "finished_at": _iso(s.finished_at),
        "attempts": s.attempts,
        "worker": s.worker,
        "go_version": s.go_version,
        "callback_url": s.callback_url,
        "callback": s.callback,
    }


def _problem_document(problem: Problem) -> dict[str, Any]:
    return {"type": problem.type, "title": problem.title, "status": problem.status, "detail": problem.detail,
            **problem.extra}  # fmt: skip


def _iso(moment: datetime | None) -> str | None:
    """As the server writes times: UTC, milliseconds, ``Z``."""
    return None if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

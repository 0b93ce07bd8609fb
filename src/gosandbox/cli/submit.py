"""``gosandbox submit``: send a package to a running server as a job; wait for it, or follow it live."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from gosandbox.errors import GosandboxError


class ServerError(GosandboxError):
    """The server refused the submission or could not be reached."""


def _check(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text[:300]
    raise ServerError(f"the server answered {response.status_code}: {detail}")


def submit(url: str, body: dict[str, Any], *, wait_s: float = 0) -> dict[str, Any]:
    try:
        with httpx.Client(base_url=url, timeout=wait_s + 30, trust_env=False) as client:
            return _check(client.post("/submissions", json=body, params={"wait": wait_s} if wait_s else None))
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot reach the server at {url}: {exc}", hint="start it with `gosandbox serve`") from exc


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs from the lines of a text/event-stream."""
    name, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def follow_events(url: str, submission_id: str) -> dict[str, Any]:
    """Print the program's output as it is written; return the final submission."""
    streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=None), trust_env=False) as client, \
                client.stream("GET", f"/submissions/{submission_id}/events") as response:  # fmt: skip
            if not response.is_success:
                response.read()
                _check(response)
            for name, data in sse_events(response.iter_lines()):
                if name in streams:
                    streams[name].write(str(data.get("text", "")).encode())
                    streams[name].flush()
                elif name == "result":
                    return data
    except httpx.HTTPError as exc:
        raise ServerError(f"lost the event stream of {submission_id}: {exc}") from exc
    raise ServerError(f"the event stream of {submission_id} ended before its result")


def exit_code_of(submission: dict[str, Any]) -> int:
    """As `gosandbox run` exits for a run; 0/1 for test, vet, fmt; 125 when the service failed the job."""
    from gosandbox.cli.main import SERVICE_FAILED  # noqa: PLC0415 - cli imports this module lazily

    if submission.get("state") != "done":
        return SERVICE_FAILED
    result = submission.get("result") or {}
    if submission.get("kind") == "run":
        from gosandbox.cli.run import exit_code_for  # noqa: PLC0415
        from gosandbox.models import Status  # noqa: PLC0415

        return exit_code_for(Status(result.get("status", "ok")), result.get("exit_code"))
    return 0 if result.get("passed") or result.get("ok") or result.get("status") == "ok" else 1

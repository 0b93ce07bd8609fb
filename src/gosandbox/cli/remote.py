"""The commands on a running server (``--server URL`` or ``GOSANDBOX_URL``), through :class:`gosandbox.Client`.

``run`` and ``test`` are jobs whose events are followed: the compiler's messages and the program's output
arrive as the server's sandbox writes them (``go test``'s framing lines included), so the command prints
what it prints on this host. ``vet`` and ``fmt`` print nothing before their result: one call each.
The server decodes output as UTF-8 (an invalid byte becomes U+FFFD) and takes stdin as UTF-8 text.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, TypeVar

from gosandbox.backends.live import LiveStdin
from gosandbox.cli.interactive import pump_to_server
from gosandbox.cli.tools import Live, Request
from gosandbox.client.errors import ClientError, Unreachable
from gosandbox.client.http import Client
from gosandbox.client.types import Event, Submission
from gosandbox.errors import GosandboxError, InvalidRequest, JobFailed
from gosandbox.gotest import TestOptions
from gosandbox.jobs.submission import Kind, State
from gosandbox.models import FmtResult, RunResult, TestResult, VetResult

T = TypeVar("T")

#: The events that carry the program's output, by the stream they name.
OUTPUT_EVENTS = ("stdout", "stderr")


@contextmanager
def server_tools(url: str, api_key: str | None) -> Iterator[ServerTools]:
    """:class:`ServerTools` on the server at ``url``; its connections closed at the end."""
    with reachable(url), Client(url, api_key) as client:
        yield ServerTools(client)


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """The client's "no answer" as the command line says it: which server, and how to start one."""
    try:
        yield
    except Unreachable as exc:
        raise ClientError(f"cannot reach the server at {url}: {exc}", hint="start it with `gosandbox serve`") from exc


class ServerTools:
    """:class:`~gosandbox.cli.tools.Tools` on a server."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def run(self, request: Request, live: Live) -> RunResult:
        if request.live is not None:
            return self._interactive(request, request.live, live)
        fields = {**_source(request), "stdin": _text(request.stdin), "args": list(request.args)}
        return _result(self._job(Kind.RUN, fields, live), RunResult)

    def test(self, request: Request, options: TestOptions, live: Live) -> TestResult:
        flags = {name: value for name, value in asdict(options).items() if value is not None}
        return _result(self._job(Kind.TEST, {**_source(request), **flags}, live), TestResult)

    def vet(self, request: Request) -> VetResult:
        return self.client.vet(files=request.files)

    def fmt(self, request: Request) -> FmtResult:
        return self.client.fmt(files=request.files)

    def _interactive(self, request: Request, stdin: LiveStdin, live: Live) -> RunResult:
        """The run over ``/runs/interactive``: ``stdin`` sent as it comes, its events told to ``live``."""
        finished = threading.Event()
        with self.client.interactive(**_source(request), args=list(request.args)) as run:
            pump_to_server(stdin, run, finished)
            try:
                for event in run:
                    _tell(live, event)
                return run.result()
            finally:
                finished.set()

    def _job(self, kind: Kind, fields: dict[str, Any], live: Live) -> Submission:
        """Submit a job, tell ``live`` what its events say, return it finished; cancel it if we are stopped."""
        submission = self.client.submit(kind=kind, **fields)
        try:
            return follow(self.client, submission.id, live)
        except BaseException:  # Ctrl-C, or the stream lost: the job would run on for no one
            if not submission.finished:
                _cancel_quietly(self.client, submission.id)
            raise


def follow(client: Client, submission_id: str, live: Live) -> Submission:
    """The job's events, told to ``live`` as they come (the stream resumes if cut); the finished submission."""
    for event in client.events(submission_id):
        _tell(live, event)
        if event.submission is not None:
            return event.submission
    return client.get(submission_id)  # the stream had nothing more to say: the job had ended


def _tell(live: Live, event: Event) -> None:
    if event.name == "compile":
        live.compiled(str(event.data.get("output", "")))
    elif event.name in OUTPUT_EVENTS:
        live.output(event.name, event.text.encode())


def _cancel_quietly(client: Client, submission_id: str) -> None:
    # It finished meanwhile, or the server is gone: either way nothing runs on for us.
    with contextlib.suppress(GosandboxError):
        client.cancel(submission_id)


def _source(request: Request) -> dict[str, Any]:
    fields: dict[str, Any] = {"files": request.files}
    if request.limits:
        fields["limits"] = request.limits
    if request.go_version is not None:
        fields["go_version"] = request.go_version
    if request.race:
        fields["race"] = True
    return fields


def _text(stdin: bytes) -> str:
    try:
        return stdin.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "a server takes stdin as UTF-8 text, and this stdin is not",
            hint="run it on this host (leave out --server and GOSANDBOX_URL) to feed it bytes",
        ) from exc


def _result(submission: Submission, cls: type[T]) -> T:
    """The finished job's result; the service's failure (failed, cancelled) raised."""
    if submission.state is not State.DONE or not isinstance(submission.result, cls):
        problem = submission.error
        why = f"{problem.title}: {problem.detail}" if problem is not None else "no result"
        document = {} if problem is None else {"type": problem.type, "title": problem.title, "status": problem.status}
        raise JobFailed({**document, "detail": f"the server's job {submission.id} ended {submission.state}: {why}"})
    return submission.result

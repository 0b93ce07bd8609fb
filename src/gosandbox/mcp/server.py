"""The MCP server: ``run_go``, ``test_go``, ``vet_go``, ``format_go``, ``explain_go``, ``list_toolchains``, over a
job service.

Both transports serve this one server: stdio (``gosandbox mcp``, see :mod:`gosandbox.mcp.stdio`) and
streamable HTTP at ``/mcp`` of the HTTP app (:func:`mount_mcp`). A call is a job like any other: its
arguments become the HTTP API's JSON body and go through the same parsing (one source, file names and
sizes, limits within the caps), the job is submitted, its events become progress notifications, and
its result becomes the tool's structured result.

Errors a model can act on: the program's failures (a compile error with its positions, a timeout)
are normal results; bad arguments and service failures are tool errors (``isError``) that say what
to change or when to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from gosandbox._version import __version__
from gosandbox.api.explain import explain_job
from gosandbox.auth.context import current_owner, request_caps, request_defaults
from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.problems import problem_response
from gosandbox.edge.requests import fmt_job, go_test_job, judge_job, run_job, vet_job
from gosandbox.errors import GosandboxError, InvalidRequest, JobFailed, Overloaded
from gosandbox.jobs.events import RESULT, Event
from gosandbox.jobs.service import JobService
from gosandbox.jobs.submission import JobRequest, Owner, State, Submission
from gosandbox.limits import Limits
from gosandbox.mcp.explain import EXPLAIN_DESCRIPTION, ExplainArgs, ExplainOutput, explain_body, explain_output
from gosandbox.mcp.guards import BoundedArguments, guarded_body, replaying
from gosandbox.mcp.judge import JUDGE_DESCRIPTION, JudgeArgs, JudgeOutput, judge_output
from gosandbox.mcp.schemas import (
    FormatOutput,
    LimitValues,
    RunArgs,
    RunOutput,
    SourceArgs,
    TestArgs,
    TestOutput,
    ToolchainsOutput,
    VetOutput,
    format_output,
    run_output,
    test_output,
    vet_output,
)
from gosandbox.problems import internal_error, problem_document, problem_of
from gosandbox.settings import Settings
from gosandbox.source import MAX_FILES, MAX_SOURCE_BYTES, MAX_STDIN_BYTES

logger = logging.getLogger(__name__)

T = TypeVar("T")

_JSON = "application/json"
#: Output progress is reported at most this often (a chatty program writes an event every 10 ms).
_OUTPUT_PROGRESS_EVERY_S = 0.25
#: The SDK's own Host and Origin check is off: the app checks both for every route (gosandbox.edge.hosts).
_NO_SDK_HOST_CHECK = TransportSecuritySettings(enable_dns_rebinding_protection=False)
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)

INSTRUCTIONS = (
    "gosandbox compiles and runs Go code in hardened, throwaway Docker sandboxes with no network. "
    "Use run_go to run a program, test_go for go test, vet_go for go vet, format_go for gofmt, explain_go for the "
    "compiler's decisions (heap escapes, inlining, bounds checks) and a function's assembly, and "
    "list_toolchains for the Go versions and the limits. A compile error, a failing test or a timeout is a "
    "normal result (see status and diagnostics); a tool error means the arguments or the service need a fix."
)


class NoArgs(ArgModelBase):
    model_config = ConfigDict(extra="forbid")


def build_mcp_server(settings: Settings, service: JobService) -> MCPServer[Any]:
    """The MCP server whose tools run on ``service`` (the same one the HTTP app uses)."""
    calls = _Calls(settings, service)
    tools = [
        _tool("run_go", calls.run_go, RunArgs, RunOutput, _run_description(settings)),
        _tool("test_go", calls.test_go, TestArgs, TestOutput, _test_description(settings)),
        _tool("vet_go", calls.vet_go, SourceArgs, VetOutput, _VET),
        _tool("format_go", calls.format_go, SourceArgs, FormatOutput, _FORMAT),
        _tool("explain_go", calls.explain_go, ExplainArgs, ExplainOutput, EXPLAIN_DESCRIPTION),
        _tool("judge_go", calls.judge_go, JudgeArgs, JudgeOutput, JUDGE_DESCRIPTION),
        _tool("list_toolchains", calls.list_toolchains, NoArgs, ToolchainsOutput, _TOOLCHAINS),
    ]
    # log_level: the SDK configures logging only where nobody did (the CLI does, to stderr, before this).
    return MCPServer("gosandbox", title="gosandbox: run Go in sandboxes", version=__version__,
                     instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")  # fmt: skip


def mount_mcp(app: FastAPI, settings: Settings, service: JobService) -> McpEndpoint:
    """Serve the tools at ``/mcp`` of ``app`` (streamable HTTP); run the returned endpoint in the app's lifespan.

    A route of the app, so the app's middleware (API keys, metrics) applies to it, and its body goes
    through the app's parsing slots and JSON-token ceiling (:mod:`gosandbox.mcp.guards`). Stateless: every
    POST stands alone (no session to keep, none lost across API nodes, no open GET stream holding a
    drain); progress notifications travel on the POST's own event stream.
    """
    endpoint = McpEndpoint(build_mcp_server(settings, service), settings, app.state.parsing)
    # POST only: stateless, there is no stream for a GET to open (it would hang, holding a drain), nor a session
    # for a DELETE to end; the spec's answer to both is 405.
    app.add_route("/mcp", endpoint, methods=["POST"], include_in_schema=False)  # type: ignore[arg-type]
    return endpoint


class McpEndpoint:
    """The ``/mcp`` ASGI app. The SDK's session manager runs once only, so each run of the app's lifespan
    (a test client may start it many times) makes a new one; between runs ``/mcp`` answers 503."""

    def __init__(self, server: MCPServer, settings: Settings, parsing: ParsingGate) -> None:
        self.server, self.settings, self.parsing = server, settings, parsing
        self._app: StreamableHTTPASGIApp | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.server.streamable_http_app(stateless_http=True, max_request_body_size=self.settings.max_body_bytes,
                                        transport_security=_NO_SDK_HOST_CHECK)  # fmt: skip
        manager = self.server.session_manager
        async with manager.run():
            self._app = StreamableHTTPASGIApp(manager)
            try:
                yield
            finally:
                self._app = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            detail = "the MCP endpoint is not running: the server is starting or stopping; call again"
            await problem_response(problem_document(503, "mcp-not-running", detail))(scope, receive, send)
            return
        body = await guarded_body(self.parsing, self.settings.max_body_bytes, scope, receive, send)
        if body is not None:
            await self._app(scope, replaying(body, receive), send)


def _tool(name: str, fn: Callable[..., Any], args: type[ArgModelBase], output: type[BaseModel],
          description: str) -> Tool:  # fmt: skip
    return Tool(fn=fn, name=name, description=description, parameters=args.model_json_schema(by_alias=True),
                fn_metadata=BoundedArguments(arg_model=args, output_model=output), is_async=True, context_kwarg="ctx",
                annotations=_READ_ONLY)  # fmt: skip


class _Calls:
    """The tools' bodies: arguments → the API's JSON body → a job → its result."""

    def __init__(self, settings: Settings, service: JobService) -> None:
        self.settings, self.service = settings, service

    async def run_go(self, ctx: Context[Any, Any], **arguments: Any) -> RunOutput:
        job = await _parse(lambda body: run_job(body, _JSON, self.settings, ""), arguments)
        return run_output(await self._execute(job, ctx))

    async def test_go(self, ctx: Context[Any, Any], **arguments: Any) -> TestOutput:
        job = await _parse(lambda body: go_test_job(body, _JSON, self.settings), arguments)
        return test_output(await self._execute(job, ctx))

    async def vet_go(self, ctx: Context[Any, Any], **arguments: Any) -> VetOutput:
        job = await _parse(lambda body: vet_job(body, _JSON), arguments)
        return vet_output(await self._execute(job, ctx))

    async def format_go(self, ctx: Context[Any, Any], **arguments: Any) -> FormatOutput:
        job = await _parse(lambda body: fmt_job(body, _JSON), arguments)
        return format_output(await self._execute(job, ctx))

    async def explain_go(self, ctx: Context[Any, Any], **arguments: Any) -> ExplainOutput:
        job = await _parse(lambda body: explain_job(body, _JSON, self.settings), explain_body(arguments))
        return explain_output(await self._execute(job, ctx))

    async def judge_go(self, ctx: Context[Any, Any], **arguments: Any) -> JudgeOutput:
        job = await _parse(lambda body: judge_job(body, self.settings), arguments)
        return judge_output(await self._execute(job, ctx))

    async def list_toolchains(self, ctx: Context[Any, Any]) -> ToolchainsOutput:
        del ctx
        versions = await _service_call(self.service.dispatcher.go_versions)
        return ToolchainsOutput(go_versions=versions, default=versions[0] if versions else None,
                                default_limits=_limit_values(request_defaults(self.settings)),
                                max_limits=_limit_values(request_caps(self.settings)))  # fmt: skip

    async def _execute(self, job: JobRequest, ctx: Context[Any, Any]) -> dict[str, Any]:
        """Submit, report its events as progress, and return its result once it ends.

        A call cancelled by its client (or a lost connection) cancels the job: its sandbox is killed.
        """
        owner = current_owner()  # the /mcp request's API key; keyless on stdio
        submission = await _service_call(lambda: self.service.submit(job, owner=owner, sync=True)[0])
        try:
            await _follow(self.service, submission.id, _Progress(ctx), owner)
            final = await self.service.wait(submission.id, None)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.service.abandon(submission.id)
            raise
        return _result_of(final)


async def _parse(prepare: Callable[[bytes], JobRequest], arguments: dict[str, Any]) -> JobRequest:
    """The arguments as the HTTP API's JSON body, parsed by the API's own code (its words about a body dropped)."""
    body = {name: _plain(value) for name, value in arguments.items() if value is not None}
    try:
        return await asyncio.to_thread(prepare, json.dumps(body).encode())
    except GosandboxError as exc:
        words = advice(exc).replace("invalid JSON request: ", "").replace("body: Value error, ", "")
        raise ToolError(words) from exc


def _plain(value: Any) -> Any:
    if isinstance(value, list):  # judge_go's cases
        return [_plain(item) for item in value]
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


async def _service_call(call: Callable[[], T]) -> T:
    """``call`` in a thread; a service error becomes a tool error saying what to do."""
    try:
        return await asyncio.to_thread(call)
    except GosandboxError as exc:
        raise ToolError(advice(exc)) from exc


async def _follow(service: JobService, submission_id: str, progress: _Progress, owner: Owner) -> None:
    try:
        async for item in service.stream(submission_id, None, viewer=owner):
            if item is None:
                continue
            await progress.report(item)
            if item.name == RESULT:
                return
    except GosandboxError as exc:
        raise ToolError(advice(exc)) from exc


def _result_of(final: Submission) -> dict[str, Any]:
    if final.state is State.FAILED:
        raise ToolError(advice(JobFailed(final.error or internal_error())))
    if final.state is not State.DONE or final.result is None:
        raise ToolError("the job was cancelled before it finished (the server is stopping); call the tool again")
    return final.result


def advice(exc: GosandboxError) -> str:
    """The message of a tool error: what went wrong, and whether to fix the arguments or retry."""
    detail = str((problem_of(exc) or internal_error())["detail"]).rstrip(".")
    if isinstance(exc, InvalidRequest):
        return f"invalid arguments: {detail}. Fix the arguments and call again."
    if isinstance(exc, Overloaded):
        return f"the sandbox service is busy: {detail}. Call again then."
    return f"the sandbox service could not run this: {detail}"


def _limit_values(limits: Limits) -> LimitValues:
    return LimitValues(wall_s=limits.wall_s, memory_mb=limits.memory_mb, cpus=limits.cpus, pids=limits.pids,
                       output_bytes=limits.output_bytes)  # fmt: skip


class _Progress:
    """The job's events as MCP progress notifications (a no-op when the client sent no progress token)."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self.ctx, self.sent, self.output_bytes, self.output_reported_at = ctx, 0, 0, 0.0

    async def report(self, event: Event) -> None:
        message = self._message(event)
        if message is not None:
            self.sent += 1
            await self.ctx.report_progress(self.sent, None, message)

    def _message(self, event: Event) -> str | None:
        if event.name == "state":
            return _STATE_MESSAGES.get(str(event.data.get("state")))
        if event.name == "compile":
            if not event.data.get("succeeded"):
                return "compile failed"
            return f"compiled in {event.data.get('duration_ms', 0)} ms; running in a fresh sandbox"
        if event.name == "case":
            return f"case {event.data.get('name')}: {event.data.get('status')}"
        if event.name in ("stdout", "stderr"):
            self.output_bytes += len(str(event.data.get("text", "")).encode())
            now = time.monotonic()
            if now - self.output_reported_at >= _OUTPUT_PROGRESS_EVERY_S:
                self.output_reported_at = now
                return f"running: {self.output_bytes} bytes of output so far"
        return None


_STATE_MESSAGES = {"queued": "queued for a sandbox", "running": "started: compiling", "done": "finished"}


# --- descriptions, for a model choosing a tool ----------------------------------------------------

_ISOLATION = (
    "The code runs isolated in a fresh, throwaway sandbox for this call only (no network, no access to the host, "
    "a read-only file system apart from a 64 MiB /tmp; nothing persists between calls)."
)


_BATCH = (
    "Runs are not interactive: the program gets all its stdin at its start and a call returns once it ended, so "
    "a program that prompts and waits must be sent its answers up front in stdin (a tool call cannot type into a "
    "running program; people do that over the HTTP API's /runs/interactive)."
)


def _limits_text(settings: Settings) -> str:
    d, m = settings.default_limits(), settings.limit_caps()
    return (
        f"Limits (default, at most): wall_s {d.wall_s:g} s (max {m.wall_s:g}), memory_mb {d.memory_mb} "
        f"(max {m.memory_mb}), cpus {d.cpus:g} (max {m.cpus:g}), pids {d.pids} (max {m.pids}), output_bytes "
        f"{d.output_bytes} (max {m.output_bytes}); a value above the max is refused as a tool error. "
        f"At most {MAX_FILES} files, {MAX_SOURCE_BYTES // 1024} KiB of source and {MAX_STDIN_BYTES // 1024} KiB "
        f"of stdin; builds stop after {settings.build_timeout_s:g} s."
    )


def _run_description(settings: Settings) -> str:
    return (
        "Compile and run a Go program (package main) and return its verdict: status (ok, compile_error, "
        "runtime_error, timeout, memory_limit, output_limit), exit_code, signal, stdout, stderr, compile errors as "
        "diagnostics (file, line, column, message), timings and whether output was truncated. Send the program as "
        "code (main.go) or files (with go.mod and more files); optionally stdin, args, limits and go_version; "
        "race true to check concurrent code for data races (races lists them; a race ends runtime_error, exit 66). "
        f"The standard library only: the build has no network to fetch modules. {_ISOLATION} "
        f"{_limits_text(settings)} A compile error or a timeout is a normal result, not a tool error. {_BATCH}"
    )


def _test_description(settings: Settings) -> str:
    return (
        "Run go test on a package (its _test.go files among the files) and return per-test results (name, status "
        "pass/fail/skip, elapsed_s, output), benchmarks, coverage_percent (with cover) and build errors as "
        "diagnostics with positions. Options: run, count, cover, short, bench, benchtime, limits, go_version, race "
        "(the race detector: a data race fails its test and is listed in races). "
        f"{_ISOLATION} {_limits_text(settings)} Failing tests are a normal result (passed false)."
    )


_VET = (
    "Run go vet on a package (code or files) and return its findings with file, line, column, message and analyzer "
    "(e.g. printf, unreachable); status compile_error when the package does not type-check. Vet builds but never "
    f"runs the program. {_ISOLATION}"
)
_FORMAT = (
    "Format Go sources with gofmt (and tidy go.mod's layout) and return every file sent, formatted, with the list "
    "of files that changed; syntax errors come back as syntax_errors with positions (ok false). Nothing is run. "
    f"{_ISOLATION}"
)
_TOOLCHAINS = (
    "List the Go toolchains available (values for go_version; the first is the default) and the limits a call may "
    "ask for (defaults and maxima). Cheap: runs nothing."
)

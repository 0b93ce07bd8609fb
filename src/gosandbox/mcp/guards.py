"""``/mcp`` behind the body guards of every other route, and tool-argument errors that do not echo the input.

The MCP SDK reads and parses a request body itself, and renders a tool's argument errors one per
error: a ``tools/call`` with 85,000 unknown argument names was answered with 14.8 MiB of errors (and
logged one 850,000-character line). So:

- :func:`guarded_body` reads the body as the other routes do, through the app's
  :class:`~gosandbox.edge.parsing.ParsingGate` (its reading and validating slots, ``429`` when
  saturated), within ``GOSANDBOX_MAX_BODY_BYTES`` and the JSON-token ceiling
  (:func:`~gosandbox.edge.requests.check_json_size`); a refusal is a problem document. The SDK
  then gets the body already read (:func:`replaying`).
- :class:`BoundedArguments` validates a tool's arguments into at most :data:`MAX_SHOWN_ERRORS`
  errors, each its location (client-chosen names shortened) and message, never the value; unknown
  argument names are refused before any per-field validation, named by a few and counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from starlette.requests import Request

from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.problems import error_response
from gosandbox.edge.requests import check_json_size
from gosandbox.errors import GosandboxError

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Argument errors shown at most in one tool error; the count of the rest follows.
MAX_SHOWN_ERRORS = 10
#: Client-chosen names (argument names, file names) are cut to this in an error.
_NAME_CHARS = 40


def _body(body: bytes) -> bytes:
    check_json_size(body)
    return body


async def guarded_body(gate: ParsingGate, cap_bytes: int, scope: Any, receive: Receive, send: Send) -> bytes | None:
    """The request's body, read and checked as every route's; None once a refusal has been sent."""
    try:
        return await gate.parse(Request(scope, receive), cap_bytes, _body)
    except GosandboxError as exc:
        await error_response(exc)(scope, receive, send)
        return None


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` as the whole request, then what the connection says (a disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _short(part: int | str) -> str:
    text = str(part)
    return text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 1] + "…"


def _error(message: str, loc: tuple[int | str, ...] = ()) -> InitErrorDetails:
    return {"type": PydanticCustomError("invalid_argument", "{message}", {"message": message}),
            "loc": tuple(_short(part) for part in loc[:6]), "input": None}  # fmt: skip


class BoundedArguments(FuncMetadata):
    """The SDK's argument validation, with errors bounded in number and length and no input in them."""

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        title = self.arg_model.__name__
        known = {field.alias or name for name, field in self.arg_model.model_fields.items()}
        unknown = [name for name in arguments_to_validate if name not in known]
        if unknown:
            named = ", ".join(repr(_short(name)) for name in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            message = f"unknown arguments: {named}{more}; the tool takes {', '.join(sorted(known))}"
            raise ValidationError.from_exception_data(title, [_error(message)])
        try:
            return super().validate_arguments(arguments_to_validate)
        except ValidationError as exc:
            raise _bounded(exc, title) from None


def _bounded(exc: ValidationError, title: str) -> ValidationError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    shown = [_error(str(error["msg"])[:200], tuple(error["loc"])) for error in errors[:MAX_SHOWN_ERRORS]]
    if len(errors) > MAX_SHOWN_ERRORS:
        shown.append(_error(f"and {len(errors) - MAX_SHOWN_ERRORS} more errors"))
    return ValidationError.from_exception_data(title, shown)

"""What the HTTP client raises: the server's problem documents as typed exceptions, and no answer at all.

The program's failures are never raised: a compile error or a timeout is a result, as in the library.
These are the *service's* failures, as the server reported them (RFC 9457 ``application/problem+json``)
or as the client met them on the way.

Exception tree::

    GosandboxError                  the library's root (gosandbox.errors)
    └── ClientError                 the client could not get an answer it can return
        ├── Unreachable             no answer: connection refused or reset, DNS, a stream cut short
        │   └── RequestTimedOut     no answer within the client's timeout
        └── ApiError                the server answered with a problem: status, title, detail, type
            ├── BadRequest          400, 415, 422 — also a gosandbox.InvalidRequest
            │   └── TooLarge        413 — also a gosandbox.PayloadTooLarge
            ├── AccessDenied        401, 403: no API key, or one the server does not accept
            ├── NotFound            404: no such submission (or no such route: check base_url)
            ├── Conflict            409: a finished job cannot be cancelled; a job was cancelled meanwhile
            ├── TooManyRequests     429, after the client's retries; ``retry_after_s``
            └── Unavailable         503, after the client's retries — also a gosandbox.BackendUnavailable

Where the library has the same error (InvalidRequest, PayloadTooLarge, BackendUnavailable), the client's
class is also a subclass of it, so code written against :class:`gosandbox.Runner` catches the same things.
The names differ from the server's own ``errors.Unauthorized`` and ``errors.RateLimited`` (raised by the API
key layer): a client sees only the status, and a ``429`` may be a full queue as well as a spent quota.
This module imports nothing heavy: ``import gosandbox`` stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gosandbox import errors


@dataclass(frozen=True)
class Problem:
    """A problem document (RFC 9457): what the server said went wrong and what to do about it.

    ``extra`` holds any further members (a 422's ``errors`` list, for one).
    """

    status: int
    title: str
    detail: str
    type: str = "about:blank"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, document: dict[str, Any], status: int | None = None) -> Problem:
        """A problem read from JSON; ``status``, the HTTP status, is authoritative (RFC 9457) where there is one."""
        known = ("status", "title", "detail", "type")
        extra = {key: value for key, value in document.items() if key not in known}
        return cls(
            status=status if status is not None else _int_or(document.get("status"), 0),
            title=str(document.get("title") or ""),
            detail=str(document.get("detail") or ""),
            type=str(document.get("type") or "about:blank"),
            extra=extra,
        )


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class ClientError(errors.GosandboxError):
    """The client could not get an answer it can return."""


class Unreachable(ClientError):
    """No answer from the server: it refused or dropped the connection, or its name did not resolve."""

    hint = "check base_url and that the server runs (GET /healthz)"


class RequestTimedOut(Unreachable):
    """No answer within the client's timeout (``Client(timeout=...)``)."""

    hint = "raise the client's timeout, or submit the job and follow its events instead of waiting"


class ApiError(ClientError):
    """The server answered with a problem document; ``problem`` is all of it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}".rstrip(": "))
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def type(self) -> str:
        return self.problem.type


class BadRequest(ApiError, errors.InvalidRequest):
    """The server refused the request as sent (400, 415, 422); ``detail`` says what to change."""


class TooLarge(BadRequest, errors.PayloadTooLarge):
    """A body, a source or stdin over the server's cap (413)."""


class AccessDenied(ApiError):
    """No API key, or one the server does not accept (401, 403)."""

    hint = "pass api_key= (sent as Authorization: Bearer <key>)"


class NotFound(ApiError):
    """No submission has this id (404): it never existed, or it was purged after the server's TTL."""


class Conflict(ApiError):
    """The job's state forbids it (409): it already finished, or it was cancelled while a call waited."""


class _RetryLater(ApiError):
    """A refusal that says when to come back: ``retry_after_s`` from ``Retry-After`` (None without one)."""

    def __init__(self, problem: Problem, retry_after_s: float | None = None) -> None:
        super().__init__(problem)
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.hint = f"retry after {retry_after_s:g} s"


class TooManyRequests(_RetryLater):
    """Too many requests (429): every sandbox busy and the queue full, or a caller's quota spent."""


class Unavailable(_RetryLater, errors.BackendUnavailable):
    """Something the server needs cannot serve (503); ``detail`` names the fix."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AccessDenied,
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    415: BadRequest,
    422: BadRequest,
}


def api_error(problem: Problem, retry_after_s: float | None = None) -> ApiError:
    """The exception for a problem: the class its HTTP status maps to, :class:`ApiError` for any other."""
    if problem.status == 429:
        return TooManyRequests(problem, retry_after_s)
    if problem.status == 503:
        return Unavailable(problem, retry_after_s)
    return _BY_STATUS.get(problem.status, ApiError)(problem)

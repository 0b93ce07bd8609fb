"""Service errors as RFC 9457 problem documents: the one table from error class to status code.

The HTTP edge renders these (:mod:`gosandbox.edge.problems`), with the headers :func:`problem_headers`
gives; the compatibility layers and MCP translate them into their own shapes; the job layer stores
them as a failed submission's ``error``. No other module maps an error class to a status.
"""

from __future__ import annotations

from typing import Any

from gosandbox import errors

# Most specific first: the first matching class decides.
_STATUS: list[tuple[type[errors.GosandboxError], int, str]] = [
    (errors.PayloadTooLarge, 413, "payload-too-large"),
    (errors.UnsupportedMediaType, 415, "unsupported-media-type"),
    (errors.InvalidSource, 422, "invalid-source"),
    (errors.AboveKeyCap, 422, "above-key-cap"),
    (errors.LimitOutOfRange, 422, "limit-out-of-range"),
    (errors.UnknownToolchain, 422, "unknown-toolchain"),
    (errors.CallbackNotAllowed, 422, "callback-not-allowed"),
    (errors.IdempotencyKeyReused, 422, "idempotency-key-reused"),
    (errors.InvalidRequest, 400, "invalid-request"),
    (errors.SubmissionNotFound, 404, "submission-not-found"),
    (errors.SubmissionFinished, 409, "submission-finished"),
    (errors.Unauthorized, 401, "unauthorized"),
    (errors.RateLimited, 429, "rate-limited"),
    (errors.StorageQuotaExceeded, 429, "storage-quota-exceeded"),
    (errors.Overloaded, 429, "overloaded"),
    (errors.EngineUnreachable, 503, "engine-unreachable"),
    (errors.ImageMissing, 503, "image-missing"),
    (errors.QueueUnavailable, 503, "queue-unavailable"),
    (errors.StoreUnavailable, 503, "store-unavailable"),
    (errors.BackendUnavailable, 503, "backend-unavailable"),
]


def problem_document(status: int, slug: str, detail: str, title: str | None = None) -> dict[str, Any]:
    title = title or slug.replace("-", " ").capitalize()
    return {"type": f"urn:gosandbox:problem:{slug}", "title": title, "status": status, "detail": detail}


def problem_of(exc: errors.GosandboxError) -> dict[str, Any] | None:
    """The problem document of a service error; None when no status is mapped to its class."""
    if isinstance(exc, errors.JobFailed):
        return exc.problem
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            return problem_document(status, slug, f"{exc}; {exc.hint}" if exc.hint else str(exc))
    return None


def problem_headers(exc: errors.GosandboxError) -> dict[str, str]:
    """The headers that go with an error's problem document: ``Retry-After`` (seconds) when it says when to retry."""
    if isinstance(exc, errors.Overloaded):
        return {"Retry-After": str(exc.retry_after_s)}
    return {}


def internal_error() -> dict[str, Any]:
    return problem_document(500, "internal-error", "the service failed; see its log", "Internal error")


def share_not_found() -> dict[str, Any]:
    """A shared program's link (``/p/{id}``, ``/embed?p=``) that names none."""
    return problem_document(404, "share-not-found", "no program is shared under this id; see /docs", "Not found")


def server_stopped() -> dict[str, Any]:
    detail = "the server stopped before this synchronous request finished; its client had gone, so it was not run again"
    return problem_document(503, "server-stopped", detail, "Server stopped")


def shutting_down() -> dict[str, Any]:
    """The answer of a synchronous request still running when the server was told to stop now."""
    detail = "the server is shutting down; this request's job was cancelled before it finished; send it again"
    return problem_document(503, "shutting-down", detail, "Server shutting down")


def worker_lost(attempts: int) -> dict[str, Any]:
    detail = (
        f"worker lost: the process running this job stopped {attempts} time(s) before it finished; "
        "submit it again (if it recurs, the program may be taking its worker down)"
    )
    return problem_document(503, "worker-lost", detail, "Worker lost")

"""Service errors as RFC 9457 problem documents; the one place that maps errors to status codes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gosandbox import errors

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first matching class decides.
_STATUS: list[tuple[type[errors.GosandboxError], int, str]] = [
    (errors.PayloadTooLarge, 413, "payload-too-large"),
    (errors.InvalidSource, 422, "invalid-source"),
    (errors.LimitOutOfRange, 422, "limit-out-of-range"),
    (errors.UnknownToolchain, 422, "unknown-toolchain"),
    (errors.InvalidRequest, 400, "invalid-request"),
    (errors.Overloaded, 429, "overloaded"),
    (errors.EngineUnreachable, 503, "engine-unreachable"),
    (errors.ImageMissing, 503, "image-missing"),
    (errors.BackendUnavailable, 503, "backend-unavailable"),
]


class UnsupportedMediaType(errors.InvalidRequest):
    """The body is neither JSON nor plain text."""


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:gosandbox:problem:{slug}", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def error_response(exc: errors.GosandboxError) -> JSONResponse:
    if isinstance(exc, UnsupportedMediaType):
        return problem(415, "unsupported-media-type", "Unsupported media type", str(exc))
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            detail = f"{exc}; {exc.hint}" if exc.hint else str(exc)
            response = problem(status, slug, slug.replace("-", " ").capitalize(), detail)
            if isinstance(exc, errors.Overloaded):
                response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
    logger.error("unmapped service error: %r", exc)
    return problem(500, "internal-error", "Internal error", "the service failed; see its log")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]


def install_handlers(app: FastAPI) -> None:
    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.GosandboxError)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem(
            422,
            "invalid-request",
            "Invalid request",
            "the request does not match the schema",
            errors=_validation_errors(exc),
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Internal error", "the service failed; see its log")

    app.add_exception_handler(errors.GosandboxError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)

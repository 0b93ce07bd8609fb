"""Problem documents (RFC 9457) as HTTP answers, and the app's exception handlers.

Which error class gets which status is decided in one table, :mod:`gosandbox.problems`; this module
only renders its documents (and the framework's own 404, 405 and validation errors) as responses.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from gosandbox import errors
from gosandbox.problems import internal_error, problem_document, problem_headers, problem_of

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    return problem_response({**problem_document(status, slug, detail, title), **extra})


def problem_response(document: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(document, status_code=int(document.get("status", 500)), media_type=PROBLEM_JSON,
                        headers=headers)  # fmt: skip


def error_response(exc: errors.GosandboxError) -> JSONResponse:
    """A service error as its problem document, with its headers (``Retry-After``)."""
    document = problem_of(exc)
    if document is None:
        logger.error("unmapped service error: %r", exc)
        document = internal_error()
    return problem_response(document, problem_headers(exc) or None)


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

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        """Starlette's own 404 and 405 (no such route, wrong method) as problem documents too."""
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return problem(404, "not-found", "Not found", f"no route {request.url.path[:80]!r}; see /docs")
        if exc.status_code == 405:
            allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow", "")
            response = problem(405, "method-not-allowed", "Method not allowed",
                               f"{request.method} is not served here; allowed: {allowed or 'see /docs'}")  # fmt: skip
            response.headers["Allow"] = allowed
            return response
        return problem(exc.status_code, "http-error", "HTTP error", str(exc.detail)[:200])

    async def on_client_gone(request: Request, exc: Exception) -> JSONResponse:
        """A client that hangs up mid-upload (or is cut off for sending too slowly) is ordinary: no traceback."""
        logger.info("client hung up before its request was read: %s %s", request.method, request.url.path)
        return problem(400, "client-disconnected", "Client disconnected", "the request body did not arrive whole")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(internal_error())

    app.add_exception_handler(errors.GosandboxError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(Exception, on_unexpected)

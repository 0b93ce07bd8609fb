"""The outermost layer of the app: a request id for every request, and its HTTP metrics.

Pure ASGI, not Starlette's ``BaseHTTPMiddleware``: that one runs the app in a task of its own
and copies the response through a stream, which breaks the disconnect detection of
:func:`gosandbox.edge.waiting.wait_for_end` and the live event streams. Here the app gets the
request's own ``receive`` and ``send``; ``send`` is wrapped only to read the status and add one
header. It wraps even Starlette's error middleware, so a 500 carries its request id too.

``X-Request-ID`` is the client's when it is sane (1-128 printable ASCII characters, no space),
else a new one; it is returned on every response and set as the ``request_id`` of every log
record made while the request is served.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterable, Sequence

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gosandbox import metrics
from gosandbox.logs import log_context

HEADER = b"x-request-id"
_SANE = re.compile(rb"[\x21-\x7e]{1,128}")


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID if sane, else a fresh one (32 hexadecimal digits).

    >>> request_id_of([(b"x-request-id", b"abc-1")]), len(request_id_of([(b"x-request-id", b"a b")]))
    ('abc-1', 32)
    """
    for name, value in headers:
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else uuid.uuid4().hex
    return uuid.uuid4().hex


def route_of(scope: Scope, arrived: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The matched route's path template (``/submissions/{submission_id}``), never the raw path.

    FastAPI's routes name themselves in the ``scope``; a plain Starlette route or mount (``/mcp``, the
    docs' assets) does not, so it is found again among ``routes`` from the scope as it ``arrived``
    (a mount rewrites the paths of the scope it passes on).
    """
    route = scope.get("route") or next((r for r in routes if r.matches(arrived)[0] is Match.FULL), None)
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else metrics.UNMATCHED_ROUTE


class RequestObserver:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        header = (HEADER, request_id.encode("ascii"))
        started, status = time.perf_counter(), 500  # no response began: the client saw a failure
        arrived = dict(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            metrics.http_request(
                scope["method"], route_of(scope, arrived, self.routes), status, time.perf_counter() - started
            )


def observe_requests(app: FastAPI) -> None:
    """Put :class:`RequestObserver` around the whole middleware stack, error handling included."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestObserver(build(), app.router.routes)  # type: ignore[method-assign]


def add_metrics_route(app: FastAPI) -> None:
    """GET /metrics: every metric of this process, in Prometheus's text format."""

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        # In a thread: a gauge may ask the store (the queued jobs, in distributed mode).
        body, content_type = await asyncio.to_thread(metrics.scrape)
        return Response(body, media_type=content_type)

"""CORS for the routes browsers call from other origins (the Go Playground's, the Codapi widget's).

One plain ASGI layer around the whole app, outside the API-key middleware: a browser's preflight
carries no credentials, so it is answered here, before a key is asked for; and every answer of a
CORS path (a 401 or a 429 too) carries ``Access-Control-Allow-Origin``, so the page can read it.

Each layer names its paths with one call, :func:`allow_cors`; the origins come from
``GOSANDBOX_CORS_ORIGINS``: empty (the default: no page of another origin may read an answer),
a comma-separated list (each answer names the caller's origin, with ``Vary: Origin``), or ``*``
(any origin, as the Go Playground answers: an operator's explicit choice). The native API gets no
CORS: it is meant for servers, not pages. The same list says which pages may send a request that
changes something at all (:mod:`gosandbox.edge.hosts`): CORS only decides what a page may read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from gosandbox.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: What a page may send: its body's type, an API key, an idempotency key.
ALLOWED_HEADERS = "Content-Type, Authorization, X-Auth-Token, Idempotency-Key"
#: What a page may read besides the simple headers.
EXPOSED_HEADERS = "X-Submission-Id, Retry-After, RateLimit, RateLimit-Policy, Location"
#: How long a browser may reuse a preflight's answer.
MAX_AGE_S = 600


@dataclass
class CorsPolicy:
    """The allowed origins and the paths CORS is on for (exact paths, or prefixes ending in ``/``)."""

    origins: frozenset[str]
    any_origin: bool
    paths: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, setting: str) -> CorsPolicy:
        origins = frozenset(item.strip().rstrip("/") for item in setting.split(",") if item.strip())
        return cls(origins - {"*"}, "*" in origins)

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def covers(self, path: str) -> bool:
        return path in self.paths or path.startswith(tuple(self.prefixes))

    def allow_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for this caller; None: not allowed."""
        if self.any_origin:
            return "*"
        return origin if origin is not None and origin in self.origins else None


def allow_cors(app: FastAPI, settings: Settings, *paths: str) -> None:
    """Answer CORS on ``paths`` (``"/compile"``; ``"/p/"`` for every path below). Call it while building the app.

    The first call puts :class:`CorsLayer` around the app's whole middleware stack (so around the
    API keys' middleware too); later calls add their paths to the same policy.
    """
    policy: CorsPolicy | None = getattr(app.state, "cors", None)
    if policy is None:
        policy = app.state.cors = CorsPolicy.of(settings.cors_origins)
        build = app.build_middleware_stack
        app.build_middleware_stack = lambda: CorsLayer(build(), policy)  # type: ignore[method-assign]
    for path in paths:
        (policy.prefixes.append if path.endswith("/") else policy.paths.add)(path)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class CorsLayer:
    """Preflights (any ``OPTIONS`` on a CORS path) answered 204 here; other answers get the CORS headers."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.policy.enabled or not self.policy.covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        allowed = self.policy.allow_origin(_header(scope, b"origin"))
        headers = self._headers(allowed)
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, send, headers, allowed is not None)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, sending)

    def _headers(self, allowed: str | None) -> list[tuple[bytes, bytes]]:
        headers = [] if self.policy.any_origin else [(b"vary", b"Origin")]
        if allowed is not None:
            headers += [(b"access-control-allow-origin", allowed.encode("latin-1")),
                        (b"access-control-expose-headers", EXPOSED_HEADERS.encode())]  # fmt: skip
        return headers

    async def _preflight(self, scope: Scope, send: Send, headers: list[tuple[bytes, bytes]], allowed: bool) -> None:
        """204: the methods and headers a page may use (none named when its origin is not allowed)."""
        headers = [*headers, (b"allow", b"GET, HEAD, POST, OPTIONS"), (b"content-length", b"0")]
        if allowed:
            requested = _header(scope, b"access-control-request-headers")
            headers += [
                (b"access-control-allow-methods", b"GET, HEAD, POST, OPTIONS"),
                (b"access-control-allow-headers", (requested or ALLOWED_HEADERS).encode("latin-1")[:1024]),
                (b"access-control-max-age", str(MAX_AGE_S).encode()),
            ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

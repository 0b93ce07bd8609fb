"""Authentication and rate limiting as a plain ASGI middleware, around the whole app and its mounts.

A plain ASGI layer, not Starlette's ``BaseHTTPMiddleware``: that one runs the app in another task
and buffers through a memory stream, which breaks streamed responses (``/submissions/{id}/events``)
and hides the client's disconnect that the synchronous endpoints watch for. This one only looks at
the request's headers, sets the request's key (:mod:`gosandbox.auth.context`) and adds the
rate-limit headers to the response's start; the body passes through untouched.

- The key comes from ``Authorization: Bearer <key>`` or ``X-Auth-Token: <key>`` (as Judge0 clients
  send it), on every route. None, or an unknown or revoked one: 401 problem+json, with
  ``WWW-Authenticate: Bearer``.
- :data:`PUBLIC_PATHS` need no key: the probes, the documentation, the playground's page and ``/metrics``.
- Counted: every ``POST`` (each may start a job; a batch of N counts N), one unit from the key's
  token bucket and daily quota, taken *before* the body is read. Then every answer, a read's too,
  costs one unit per MiB of body it carried, drawn once it is sent (:mod:`gosandbox.auth.metering`):
  a key whose big reads put its bucket in debt is refused, reads and all, until it has refilled.
- Each authenticated answer carries ``RateLimit-Policy`` and ``RateLimit``
  (draft-ietf-httpapi-ratelimit-headers-10..12: lists of policies, ``q``/``w`` and ``r``/``t``);
  a refusal is 429 problem+json with ``Retry-After`` (whole seconds, at least 1).
- Keys are looked up by their hash, with a cache of :data:`CACHE_TTL_S`: a revocation takes effect
  on every node within that time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy import Engine

from gosandbox.auth.context import Principal, count_refusal, refusal, serving
from gosandbox.auth.keys import KEY_PREFIX, ApiKey, KeyStore, key_hash
from gosandbox.auth.metering import AnswerMeter
from gosandbox.auth.ratelimit import Decision, Limiter, MemoryLimiter, RedisLimiter, seconds_to_utc_midnight
from gosandbox.errors import BackendUnavailable, GosandboxError, Unauthorized
from gosandbox.problems import problem_of
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: How long a key found (or not found) is believed: the bound on a revocation reaching every node.
CACHE_TTL_S = 5.0
#: Hashes remembered at most (unknown ones too: a flood of made-up keys costs one lookup each per TTL).
CACHE_ENTRIES = 10_000
#: No real key is longer; a longer header is refused without a lookup.
MAX_KEY_CHARS = 128
#: Paths served without a key. /metrics too: protect it by network (scrape on an internal address).
#: The playground's page and files too (a browser sends no key for them; they touch neither store nor backend).
PUBLIC_PATHS = frozenset({"/", "/embed", "/favicon.ico", "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json",
                          "/metrics"})  # fmt: skip
PUBLIC_PREFIXES = ("/docs/assets/", "/static/")


def is_public(path: str, query: bytes = b"") -> bool:
    """``/embed?p={id}`` looks the id up in the store: with a key only, as ``/p/{id}`` (no keyless oracle of shares)."""
    if path == "/embed" and query:
        return False
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key in ``Authorization: Bearer`` or ``X-Auth-Token``; None when neither holds one."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-auth-token" and value.strip():
            return value.decode("latin-1").strip()
    return None


class KeyCache:
    """Keys by their hash, each answer believed for :data:`CACHE_TTL_S`; looked up in the store off the event loop.

    Unknown keys are remembered apart, at most :data:`CACHE_ENTRIES` of them (the oldest go first), so
    a flood of made-up keys cannot push the live ones out. Only hashes are held, never a key.
    """

    def __init__(self, store: KeyStore, ttl_s: float = CACHE_TTL_S) -> None:
        self.store, self.ttl_s = store, ttl_s
        self._live: dict[str, tuple[ApiKey, float]] = {}
        self._unknown: dict[str, float] = {}

    async def find(self, key: str) -> ApiKey | None:
        digest, now = key_hash(key), time.monotonic()
        live = self._live.get(digest)
        if live is not None and live[1] > now:
            return live[0]
        if self._unknown.get(digest, 0.0) > now:
            return None
        found = await asyncio.to_thread(self.store.find, key)
        self._live.pop(digest, None)
        self._unknown.pop(digest, None)
        if found is not None:
            self._live[digest] = (found, now + self.ttl_s)
        else:
            if len(self._unknown) >= CACHE_ENTRIES:
                del self._unknown[next(iter(self._unknown))]
            self._unknown[digest] = now + self.ttl_s
        return found


def policy_header(key: ApiKey) -> str:
    """``"burst";q=10;w=2, "daily";q=10000;w=86400``: the bucket as a quota per refill time, and the day."""
    policies = [f'"burst";q={key.burst};w={max(1, math.ceil(key.refill_s))}']
    if key.daily:
        policies.append(f'"daily";q={key.daily};w=86400')
    return ", ".join(policies)


def state_header(key: ApiKey, decision: Decision) -> str:
    """``"burst";r=7;t=1, "daily";r=9993;t=43200``: tokens left and seconds until full; the day's rest."""
    missing = max(0.0, key.burst - decision.tokens)  # a debt (tokens below 0) takes longer to refill
    states = [f'"burst";r={max(0, math.floor(decision.tokens))};t={math.ceil(missing / key.rate_per_s)}']
    if key.daily:
        left = max(0, key.daily - decision.daily_used)
        states.append(f'"daily";r={left};t={seconds_to_utc_midnight(decision.now)}')
    return ", ".join(states)


def _headers(key: ApiKey, decision: Decision) -> list[tuple[bytes, bytes]]:
    return [(b"ratelimit-policy", policy_header(key).encode()), (b"ratelimit", state_header(key, decision).encode())]


async def send_problem(
    scope: Scope, send: Send, document: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with a problem document; a WebSocket upgrade is refused with it (or, where the server cannot
    answer an upgrade with a body, closed with 1008 before it is accepted: the client sees a 403)."""
    import json  # noqa: PLC0415 - tiny; only refusals need it

    body = json.dumps(document).encode()
    start = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    start += headers or []
    prefix = "http"
    if scope["type"] == "websocket":
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008, "reason": str(document.get("detail", ""))[:120]})
            return
        prefix = "websocket.http"
    await send({"type": f"{prefix}.response.start", "status": document["status"], "headers": start})
    await send({"type": f"{prefix}.response.body", "body": body})


def _document(exc: GosandboxError) -> dict[str, Any]:
    document = problem_of(exc)
    assert document is not None, f"{type(exc).__name__} has no HTTP status"
    return document


def _unauthorized(detail: str) -> dict[str, Any]:
    return _document(Unauthorized(detail))


class AuthMiddleware:
    """``GOSANDBOX_AUTH=required``: every non-public request needs a live key; counted ones draw on its limits."""

    def __init__(self, app: ASGIApp, keys: KeyCache, limiter: Limiter) -> None:
        self.app, self.keys, self.limiter = app, keys, limiter
        self.meter = AnswerMeter(limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        public = scope["type"] == "http" and is_public(scope["path"], scope.get("query_string", b""))
        if scope["type"] == "lifespan" or public:
            await self.app(scope, receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            await send({"type": "websocket.close", "code": 1008})
            return
        # A WebSocket (an interactive run) runs a job as a POST does.
        cost = 1 if scope["type"] == "websocket" or scope["method"] == "POST" else 0
        try:
            key = await self._authenticate(scope, send)
            if key is None:
                return
            decision = await self._take(key, cost)
        except BackendUnavailable as exc:  # the key store or the limiter's Redis does not answer
            await send_problem(scope, send, _document(exc), [])
            return
        if not decision.allowed:
            count_refusal(key)
            refused = refusal(key, decision, cost)
            headers = [(b"retry-after", str(refused.retry_after_s).encode()), *_headers(key, decision)]
            await send_problem(scope, send, _document(refused), headers)
            return
        principal = Principal(key, self.limiter, decision)
        sending = _Sending(send, principal)
        try:
            with serving(principal):
                await self.app(scope, receive, sending)
        finally:
            await self.meter.charge(key, sending.body_bytes)

    async def _authenticate(self, scope: Scope, send: Send) -> ApiKey | None:
        """The request's live key; None once it was answered 401."""
        presented = presented_key(scope["headers"])
        challenge = [(b"www-authenticate", b'Bearer realm="gosandbox"')]
        if presented is None:
            detail = "this server requires an API key: send Authorization: Bearer <key> (or X-Auth-Token: <key>)"
            await send_problem(scope, send, _unauthorized(detail), challenge)
            return None
        key = None
        if presented.startswith(KEY_PREFIX) and len(presented) <= MAX_KEY_CHARS:
            key = await self.keys.find(presented)
        if key is None:
            challenge = [(b"www-authenticate", b'Bearer realm="gosandbox", error="invalid_token"')]
            await send_problem(scope, send, _unauthorized("the API key is unknown or revoked"), challenge)
        return key

    async def _take(self, key: ApiKey, cost: int) -> Decision:
        if not self.limiter.blocking:
            return self.limiter.take(key, cost)
        try:
            return await asyncio.to_thread(self.limiter.take, key, cost)
        except BackendUnavailable:
            if cost:
                raise
            logger.warning("rate limiter unavailable; a read of key %s goes on with a full bucket shown", key.name)
            return Decision(None, float(key.burst), 0, time.time())


class _Sending:
    """``send`` that adds the key's RateLimit headers to the response's start (the state as it is then) and
    counts the body bytes sent (what the answer costs)."""

    def __init__(self, send: Send, principal: Principal) -> None:
        self.send, self.principal, self.body_bytes = send, principal, 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            added = _headers(self.principal.key, self.principal.decision)
            message = {**message, "headers": [*message.get("headers", []), *added]}
        elif message["type"] == "http.response.body":
            self.body_bytes += len(message.get("body", b""))
        await self.send(message)


def install_auth(app: Any, settings: Settings, engine: Engine) -> None:
    """With ``GOSANDBOX_AUTH=required``, put :class:`AuthMiddleware` around ``app``'s routes and mounts."""
    if settings.auth != "required":
        return
    limiter: Limiter = MemoryLimiter() if settings.queue_url is None else RedisLimiter(settings.queue_url)
    app.add_middleware(AuthMiddleware, keys=KeyCache(KeyStore(engine), ttl_s=CACHE_TTL_S), limiter=limiter)

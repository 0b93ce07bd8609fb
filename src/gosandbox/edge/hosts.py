"""Which names the server answers to, and which pages may make it run code: one check for every route.

A web page cannot read this server's answers unless CORS lets it (:mod:`gosandbox.edge.cors`), but
two doors stay open without this layer:

- **DNS rebinding.** A page on ``rebind.example`` whose name is made to resolve to 127.0.0.1 is,
  to the browser, its own origin: it reads every answer. Its requests carry ``Host:
  rebind.example``, so every request whose ``Host`` is not a name this server is reached by is
  answered ``421``: the loopback names, the address it listens on (unless a wildcard), and
  ``GOSANDBOX_PUBLIC_HOSTS`` (``*``: any, for a server behind a proxy that checks it). The probes
  (``/healthz``, ``/readyz``) answer whatever the ``Host``: an orchestrator probes by address.
- **Cross-site writes.** A page may send a "simple" request (a form, ``text/plain``) to any
  origin without asking first: it cannot read the answer, but ``POST /run`` would still run its
  code and ``/share`` store its text. A request that changes something (``POST``, ``PUT``,
  ``PATCH``, ``DELETE``) whose ``Origin`` is neither this server's own nor one listed in
  ``GOSANDBOX_CORS_ORIGINS`` is answered ``403``; without ``Origin``, ``Sec-Fetch-Site:
  cross-site`` or ``same-site`` says the same. ``curl`` and other programs send neither.

Before this layer, only ``/mcp`` checked ``Host`` and ``Origin`` (in the MCP SDK); now every route does, here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI

from gosandbox.auth.middleware import send_problem
from gosandbox.edge.cors import CorsPolicy
from gosandbox.edge.problems import problem_response
from gosandbox.problems import problem_document
from gosandbox.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Names every server is reached by: they resolve to this machine only.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: Listening on one of these is listening on every address: it names none a client would use.
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - recognised, not bound to
#: Answered whatever the Host: an orchestrator's probe names the address it probes.
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_and_port(authority: str) -> tuple[str, int | None]:
    """``Example.COM.:8080`` -> ``("example.com", 8080)``; ``[::1]`` -> ``("::1", None)``; no port: None."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        name, _, rest = authority[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        name, _, port = authority.partition(":") if authority.count(":") == 1 else (authority, "", "")
    return name.rstrip("."), int(port) if port.isdigit() else None


@dataclass(frozen=True)
class SitePolicy:
    """The names this server answers to, and the origins whose pages may write to it."""

    names: frozenset[str]
    any_name: bool
    cors: CorsPolicy

    @classmethod
    def of(cls, settings: Settings) -> SitePolicy:
        public = {name for item in settings.public_hosts.split(",") if (name := _host_and_port(item)[0])}
        names = LOOPBACK_NAMES | (public - {"*"})
        listened = _host_and_port(settings.host)[0]
        if listened not in _WILDCARDS:
            names |= {listened}
        return cls(frozenset(names), "*" in public, CorsPolicy.of(settings.cors_origins))

    def knows(self, host: str | None) -> bool:
        """``host``: the request's ``Host`` header (None: HTTP/1.0 without one, no browser's)."""
        return host is None or self.any_name or _host_and_port(host)[0] in self.names

    def lets_write(self, origin: str | None, fetch_site: str | None, host: str | None) -> bool:
        """Whether a request that changes something may come from where the browser says it comes from."""
        if origin is None:
            return fetch_site not in ("cross-site", "same-site")
        return _same_origin(origin, host) or self.cors.allow_origin(origin.rstrip("/")) is not None


def _same_origin(origin: str, host: str | None) -> bool:
    """The page's origin is this server as the request reached it (the playground's own page)."""
    if host is None or origin == "null":
        return False
    parts = urlsplit(origin)
    default = _DEFAULT_PORTS.get(parts.scheme)
    page_name, page_port = _host_and_port(parts.netloc)
    name, port = _host_and_port(host)
    return bool(page_name) and page_name == name and (page_port or default) == (port or default)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


_MISDIRECTED = problem_document(
    421, "misdirected-request", "this server does not answer to that Host; its operator lists the names it is "
    "reached by in GOSANDBOX_PUBLIC_HOSTS", "Misdirected request",
)  # fmt: skip
_CROSS_SITE = problem_document(
    403, "cross-site-request", "a page of another site may not send this request; its operator lists the origins "
    "whose pages may in GOSANDBOX_CORS_ORIGINS (curl and other programs send no Origin and are not refused)",
    "Cross-site request",
)  # fmt: skip


class SiteGuard:
    """421 for a ``Host`` this server is not reached by, 403 for a write from a page of another site."""

    def __init__(self, app: ASGIApp, policy: SitePolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if not self.policy.knows(host):
            await self._refuse(scope, receive, send, _MISDIRECTED)
            return
        # A WebSocket upgrade is a write: an interactive run starts on it (a browser always sends its Origin).
        writes = scope["type"] == "websocket" or scope["method"] in _WRITES
        if writes and not self.policy.lets_write(_header(scope, b"origin"), _header(scope, b"sec-fetch-site"), host):
            await self._refuse(scope, receive, send, _CROSS_SITE)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, document: dict[str, Any]) -> None:
        if scope["type"] == "websocket":
            await send_problem(scope, send, document)
        else:
            await problem_response(document)(scope, receive, send)


def install_site_guard(app: FastAPI, settings: Settings) -> None:
    """Put :class:`SiteGuard` around everything built so far (CORS, API keys, the routes, ``/mcp``)."""
    policy = SitePolicy.of(settings)
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SiteGuard(build(), policy)  # type: ignore[method-assign]

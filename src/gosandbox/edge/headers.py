"""The security and cache headers of every answer: the playground's pages and static files (:mod:`gosandbox.web`),
the documentation pages (:mod:`gosandbox.edge.docs`), and ``nosniff`` on all of them.

The playground's page runs no inline script and loads everything from this server, so its
``Content-Security-Policy`` allows only ``'self'``: a program's output that slipped into the page as
HTML could still not run a script or send anything elsewhere. ``/embed`` differs in one directive: it
is meant for an iframe on a docs site of another origin (``frame-ancestors *``).

Swagger UI's page (``/docs``) starts it with one inline script, which its policy allows by its
SHA-256 (computed from the page as served, so it follows FastAPI's template); ReDoc writes its
styles at run time. Their policies allow inline styles, never an inline script without its hash.

``X-Content-Type-Options: nosniff`` goes on every answer of the app, by :class:`NoSniff`: a shared
program served as ``text/plain`` must never be read as HTML or script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The playground's page and its files: everything from this server, nothing inline, no plugin.
_PAGE_DIRECTIVES: Mapping[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",  # CodeMirror's styles go through adoptedStyleSheets, which this allows
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'self'",
}
#: Long-lived and never revalidated: a file whose name holds its content's hash never changes.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Stored, but asked for again each time (a conditional request where the answer has an ETag).
NO_CACHE = "no-cache"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def policy(directives: Mapping[str, str]) -> str:
    """A ``Content-Security-Policy`` value.

    >>> policy({"default-src": "'self'", "object-src": "'none'"})
    "default-src 'self'; object-src 'none'"
    """
    return "; ".join(f"{name} {value}" for name, value in directives.items())


PAGE_POLICY = policy(_PAGE_DIRECTIVES)
EMBED_POLICY = policy({**_PAGE_DIRECTIVES, "frame-ancestors": "*"})


def page_headers(*, embeddable: bool = False) -> dict[str, str]:
    """The headers of a playground page (``/``, ``/p/{id}``, ``/embed``): its policy, no referrer, no-cache."""
    return {
        "Content-Security-Policy": EMBED_POLICY if embeddable else PAGE_POLICY,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": NO_CACHE,
    }


def static_headers(*, hashed: bool) -> dict[str, str]:
    """The headers of a file of the bundle: immutable when its name holds its hash."""
    return {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": IMMUTABLE if hashed else NO_CACHE}


def inline_script_hashes(html: bytes) -> list[str]:
    """The CSP sources (``'sha256-...'``) of the page's inline scripts, as a browser hashes them.

    >>> inline_script_hashes(b"<script src=x></script><script>go()</script>")
    ["'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw='"]
    """
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
            for body in _INLINE_SCRIPT.findall(html)]  # fmt: skip


def documentation_policy(html: bytes) -> str:
    """The policy of /docs or /redoc: the page's own inline scripts by hash, inline styles, a worker from a blob."""
    scripts = " ".join(["'self'", *inline_script_hashes(html)])
    return policy({**_PAGE_DIRECTIVES, "script-src": scripts, "style-src": "'self' 'unsafe-inline'",
                   "worker-src": "'self' blob:"})  # fmt: skip


class NoSniff:
    """Pure ASGI (see :mod:`gosandbox.edge.observe` for why): ``X-Content-Type-Options: nosniff`` on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-content-type-options"]
                message["headers"] = [*headers, (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, sending)


def install_nosniff(app: FastAPI) -> None:
    """Put :class:`NoSniff` around everything built so far: call it last, so that every answer has it."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: NoSniff(build())  # type: ignore[method-assign]

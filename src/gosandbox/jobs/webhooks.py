"""Callbacks: one signed request with the final submission to a URL the client chose, on an allowlisted host.

A callback is an outbound request a stranger picks, so the host must be listed in
``GOSANDBOX_CALLBACK_HOSTS``; redirects are not followed (they could lead anywhere).
Ours is a ``POST`` of the submission as ``GET /submissions/{id}`` shows it. A compatibility layer
whose clients expect another (Judge0's ``PUT`` of its own JSON) names a :class:`CallbackShape` in the
request's ``compat["callback_shape"]``; the assembly (:mod:`gosandbox.wiring`) hands every layer's
shapes, by name, to :class:`Webhooks`. This module imports no compatibility layer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from gosandbox import metrics
from gosandbox.errors import CallbackNotAllowed
from gosandbox.jobs.submission import Submission

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Gosandbox-Signature"
RETRIES = 3
_BACKOFF_S = (0.5, 1.0, 2.0)
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CallbackShape:
    """A callback as a foreign API's clients expect it: its HTTP method and its body."""

    method: str
    body: Callable[[Submission], dict[str, Any]]  # given the submission read in full (request, events)


def callback_of(submission: Submission, shapes: Mapping[str, CallbackShape]) -> tuple[str, dict[str, Any]]:
    """The method and body of ``submission``'s callback: the one of ``shapes`` its request names, else our ``POST``."""
    name = (submission.request.get("compat") or {}).get("callback_shape")
    shape = shapes.get(name) if name else None
    if shape is None:
        if name:
            logger.warning("callback of %s: shape %r is not known to this process; sending our POST instead",
                           submission.id, name)  # fmt: skip
        return "POST", submission.public()
    try:
        return shape.method, shape.body(submission)
    except Exception:  # a renderer's bug must not cost the client its callback
        logger.exception("callback of %s: shape %r failed; sending our POST instead", submission.id, name)
        return "POST", submission.public()


def check_callback_url(url: str, allowed_hosts: frozenset[str], secret: str) -> None:
    """Refuse a callback URL unless it is http(s) to an allowed host (``host`` or ``host:port``)."""
    if not allowed_hosts:
        raise CallbackNotAllowed(
            "callbacks are off on this server: set GOSANDBOX_CALLBACK_HOSTS to the hosts callbacks may go to"
        )
    if not secret:
        raise CallbackNotAllowed("callbacks need GOSANDBOX_CALLBACK_SECRET, the key their signatures are made with")
    try:
        # The parser of the client that will send it, and no other: two parsers that disagree on
        # the host of a crafted URL would let it pass the allowlist and go somewhere else.
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise CallbackNotAllowed("callback_url is not a valid URL") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise CallbackNotAllowed("callback_url is not a valid URL (port out of range)")
    host, port = parsed.host.lower(), parsed.port or (443 if parsed.scheme == "https" else 80)
    if parsed.scheme not in ("http", "https") or not host or parsed.userinfo or len(url) > 2000 or url != url.strip():
        raise CallbackNotAllowed("callback_url must be an http:// or https:// URL with a host and no user info")
    named = f"[{host}]" if ":" in host else host  # an IPv6 address is written in brackets
    if not {host, named, f"{named}:{port}"} & allowed_hosts:
        raise CallbackNotAllowed(
            f"callback host {host[:80]!r} is not in GOSANDBOX_CALLBACK_HOSTS; ask the operator to add it"
        )


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``: what a receiver recomputes to trust the callback."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    url: str, payload: dict[str, Any], secret: str, sleep: Callable[[float], None] = time.sleep, method: str = "POST"
) -> dict[str, Any]:
    """Send ``payload`` to ``url`` (``method``), retrying 3 times with backoff; return the outcome to record."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(body, secret)}
    outcome: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0, "status_code": None, "error": None}
    with httpx.Client(timeout=_TIMEOUT_S, follow_redirects=False, trust_env=False) as client:
        for attempt in range(RETRIES + 1):
            if attempt:
                sleep(_BACKOFF_S[attempt - 1])
            outcome["attempts"] = attempt + 1
            try:
                # Streamed and never read: a receiver cannot make us hold a large or endless body.
                with client.stream(method, url, content=body, headers=headers) as response:
                    status = response.status_code
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # an outcome is recorded whatever went wrong
                outcome["error"] = type(exc).__name__  # the class only: no internal detail reaches the client
                continue
            outcome["status_code"], outcome["error"] = status, None
            if 200 <= status < 300:
                outcome["delivered"] = True
                break
    outcome["finished_at"] = time.time()
    return outcome


#: Callbacks waiting for a delivery thread at most; past it, the outcome says so.
_BACKLOG = 256


class Webhooks:
    """Delivers callbacks off the job's thread; ``record`` stores each outcome.

    ``shapes``: the callbacks the compatibility layers send, by the name a request gives in
    ``compat["callback_shape"]`` (see :func:`callback_of`).

    The URL is checked again here, against this process's own allowlist: in distributed mode
    the worker that ends a job sends its callback, and a worker not configured for callbacks
    records a refusal instead of calling anything.
    """

    def __init__(
        self,
        allowed_hosts: frozenset[str],
        secret: str,
        record: Callable[[str, dict[str, Any]], None],
        shapes: Mapping[str, CallbackShape] | None = None,
    ) -> None:
        self.allowed_hosts, self.secret, self._record = allowed_hosts, secret, record
        self.shapes: Mapping[str, CallbackShape] = dict(shapes or {})
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook")
        self._room = threading.BoundedSemaphore(_BACKLOG)

    def callback_of(self, submission: Submission) -> tuple[str, dict[str, Any]]:
        """The method and body of ``submission``'s callback (its request's shape, else our ``POST``)."""
        return callback_of(submission, self.shapes)

    def send(self, submission_id: str, url: str, payload: dict[str, Any], method: str = "POST") -> None:
        try:
            check_callback_url(url, self.allowed_hosts, self.secret)
        except CallbackNotAllowed as exc:
            metrics.webhook_outcome("refused")
            self._record(submission_id, _not_sent(url, f"refused by the process that ended the job: {exc}"))
            return
        if not self._room.acquire(blocking=False):
            metrics.webhook_outcome("dropped")
            self._record(submission_id, _not_sent(url, "too many callbacks waiting; this one was dropped"))
            return
        self._pool.submit(self._send, submission_id, url, payload, method)

    def _send(self, submission_id: str, url: str, payload: dict[str, Any], method: str) -> None:
        try:
            outcome = deliver(url, payload, self.secret, method=method)
            metrics.webhook_outcome("delivered" if outcome["delivered"] else "failed")
            logger.info("callback of %s: delivered=%s after %d attempt(s)", submission_id, outcome["delivered"],
                        outcome["attempts"])  # fmt: skip
            self._record(submission_id, outcome)
        except Exception:
            logger.exception("callback of %s failed", submission_id)
        finally:
            self._room.release()

    def close(self) -> None:
        """Let deliveries under way finish; those still waiting are dropped (their outcome stays empty)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _not_sent(url: str, reason: str) -> dict[str, Any]:
    return {"url": url, "delivered": False, "attempts": 0, "status_code": None, "error": reason,
            "finished_at": time.time()}  # fmt: skip

"""Callbacks: one signed request with the final submission to a URL the client chose, on an allowlisted host.

A callback is an outbound request a stranger picks, so its host and port must be listed in
``GOSANDBOX_CALLBACK_HOSTS`` (:func:`check_callback_url`); redirects are not followed (they could
lead anywhere), and what is recorded of a failure is "not delivered", nothing more: a status code
against a connection error would tell a client which ports of an allowed host are open. Short
connect and read deadlines, and at most :data:`PER_DESTINATION` deliveries under way to one host,
keep a receiver that never answers from delaying the callbacks of other hosts. Each is signed
with a timestamp (:func:`signature`), so that a receiver can refuse a replay.

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
from collections import deque
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
TIMESTAMP_HEADER = "X-Gosandbox-Timestamp"
RETRIES = 3
_BACKOFF_S = (0.5, 1.0, 2.0)
#: A receiver gets this long to accept the connection, and to answer each read once the request is sent.
_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
#: What a failed delivery's stored outcome says, whatever the reason (the log has it, for the operator).
NOT_DELIVERED = "not delivered (no 2xx answer after every attempt, or refused by this server's settings)"
#: Deliveries under way to one host at most; the others to that host wait their turn, not a thread's.
PER_DESTINATION = 2
#: Deliveries under way at once in all.
_WORKERS = 8
#: Callbacks under way or waiting at most; past it, a callback is dropped (not delivered).
_BACKLOG = 256


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
    """Refuse a callback URL unless it is http(s) to an allowed host and port.

    An entry ``host:port`` allows that port, ``host:*`` every port, and a bare ``host`` its scheme's
    default port only (80, 443): the other services of an allowed host stay out of reach.
    """
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
    bare = {host, named} & allowed_hosts and port == (443 if parsed.scheme == "https" else 80)
    if not (bare or {f"{named}:{port}", f"{named}:*"} & allowed_hosts):
        raise CallbackNotAllowed(
            f"callback host and port {named[:80]}:{port} are not in GOSANDBOX_CALLBACK_HOSTS; ask the operator"
            " to add them (a bare host there allows its default port only)"
        )


def signature(body: bytes, secret: str, timestamp: str) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``: what a receiver recomputes to trust the callback.

    The timestamp (Unix seconds, sent as ``X-Gosandbox-Timestamp``) is signed with the body, so a
    receiver that refuses old timestamps refuses a captured callback sent again (docs/jobs.md).
    """
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def deliver(
    url: str, payload: dict[str, Any], secret: str, sleep: Callable[[float], None] = time.sleep, method: str = "POST"
) -> dict[str, Any]:
    """Send ``payload`` to ``url`` (``method``), retrying 3 times with backoff; return the outcome to record.

    Each attempt is signed afresh (its own timestamp). The outcome of a failure is :data:`NOT_DELIVERED`
    whatever went wrong; the reason is logged.
    """
    body = json.dumps(payload, separators=(",", ":")).encode()
    last, attempts = "", 0
    with httpx.Client(timeout=_TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for attempt in range(RETRIES + 1):
            if attempt:
                sleep(_BACKOFF_S[attempt - 1])
            attempts = attempt + 1
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                       SIGNATURE_HEADER: signature(body, secret, timestamp)}  # fmt: skip
            try:
                # Streamed and never read: a receiver cannot make us hold a large or endless body.
                with client.stream(method, url, content=body, headers=headers) as response:
                    status = response.status_code
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # an outcome is recorded whatever went wrong
                last = type(exc).__name__
                continue
            if 200 <= status < 300:
                return _outcome(url, attempts, status)
            last = f"HTTP {status}"
    logger.info("callback to %s: not delivered after %d attempts (last: %s)", _destination(url), attempts, last)
    return _outcome(url, attempts, None)


def _outcome(url: str, attempts: int, status: int | None) -> dict[str, Any]:
    """What is stored with the submission: a 2xx status when delivered, else only that it was not."""
    return {"url": url, "delivered": status is not None, "attempts": attempts, "status_code": status,
            "error": None if status is not None else NOT_DELIVERED, "finished_at": time.time()}  # fmt: skip


def _destination(url: str) -> str:
    """The host a delivery goes to, what :data:`PER_DESTINATION` counts: every port of it (``host:*`` allows many)."""
    try:
        return httpx.URL(url).host.lower()
    except (ValueError, httpx.InvalidURL):
        return ""


@dataclass(frozen=True)
class _Delivery:
    submission_id: str
    url: str
    payload: dict[str, Any]
    method: str


class Webhooks:
    """Delivers callbacks off the job's thread; ``record`` stores each outcome.

    ``shapes``: the callbacks the compatibility layers send, by the name a request gives in
    ``compat["callback_shape"]`` (see :func:`callback_of`).

    The URL is checked again here, against this process's own allowlist: in distributed mode
    the worker that ends a job sends its callback, and a worker not configured for callbacks
    records a refusal instead of calling anything.

    At most :data:`PER_DESTINATION` deliveries to one host are under way; more to that host wait in
    its own queue (not in the pool's, where they would hold the threads other hosts' callbacks need).
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
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="webhook")
        self._room = threading.BoundedSemaphore(_BACKLOG)
        self._lock = threading.Lock()
        self._under_way: dict[str, int] = {}  # host -> deliveries sent or being sent
        self._waiting: dict[str, deque[_Delivery]] = {}  # host -> deliveries waiting for one of those to end

    def callback_of(self, submission: Submission) -> tuple[str, dict[str, Any]]:
        """The method and body of ``submission``'s callback (its request's shape, else our ``POST``)."""
        return callback_of(submission, self.shapes)

    def send(self, submission_id: str, url: str, payload: dict[str, Any], method: str = "POST") -> None:
        try:
            check_callback_url(url, self.allowed_hosts, self.secret)
        except CallbackNotAllowed as exc:
            metrics.webhook_outcome("refused")
            logger.warning("callback of %s refused by this process's settings: %s", submission_id, exc)
            self._record(submission_id, _not_sent(url))
            return
        if not self._room.acquire(blocking=False):
            metrics.webhook_outcome("dropped")
            logger.warning("callback of %s dropped: %d callbacks are waiting", submission_id, _BACKLOG)
            self._record(submission_id, _not_sent(url))
            return
        self._admit(_Delivery(submission_id, url, payload, method))

    def _admit(self, delivery: _Delivery) -> None:
        host = _destination(delivery.url)
        with self._lock:
            if self._under_way.get(host, 0) >= PER_DESTINATION:
                self._waiting.setdefault(host, deque()).append(delivery)
                return
            self._under_way[host] = self._under_way.get(host, 0) + 1
        self._start(delivery)

    def _start(self, delivery: _Delivery) -> None:
        try:
            self._pool.submit(self._send, delivery)
        except RuntimeError:  # closed: the deliveries still waiting are dropped
            self._room.release()

    def _send(self, delivery: _Delivery) -> None:
        try:
            outcome = deliver(delivery.url, delivery.payload, self.secret, method=delivery.method)
            metrics.webhook_outcome("delivered" if outcome["delivered"] else "failed")
            logger.info("callback of %s: delivered=%s after %d attempt(s)", delivery.submission_id,
                        outcome["delivered"], outcome["attempts"])  # fmt: skip
            self._record(delivery.submission_id, outcome)
        except Exception:
            logger.exception("callback of %s failed", delivery.submission_id)
        finally:
            self._room.release()
            self._next(_destination(delivery.url))

    def _next(self, host: str) -> None:
        """One delivery to ``host`` ended: start the next one waiting for it, if any."""
        with self._lock:
            queue = self._waiting.get(host)
            following = queue.popleft() if queue else None
            if queue is not None and not queue:
                del self._waiting[host]
            if following is None:
                self._under_way[host] -= 1
                if not self._under_way[host]:
                    del self._under_way[host]
        if following is not None:
            self._start(following)

    def close(self) -> None:
        """Let deliveries under way finish; those still waiting are dropped (their outcome stays empty)."""
        with self._lock:
            self._waiting.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _not_sent(url: str) -> dict[str, Any]:
    return _outcome(url, 0, None)

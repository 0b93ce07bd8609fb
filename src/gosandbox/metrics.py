"""Prometheus metrics for gosandbox: every metric the service exports, defined in one place.

All metrics live in prometheus_client's default registry (``prometheus_client.REGISTRY``): ``GET
/metrics`` on the API (:func:`scrape`) and ``gosandbox worker --metrics-port``
(:func:`serve_metrics`) both serve it. A run is recorded by the process that executes it: the
server in embedded mode, the worker in distributed mode; HTTP metrics by the API node.

Callers record an event with one call into this module; label values are spelled only here.
No label ever holds a raw id or user input: routes are the matched path templates, keys their names.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server

logger = logging.getLogger(__name__)

#: Latency buckets from a cached hello world (~50 ms) to the longest wall and build limits (60 s).
LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

RUNS = Counter(
    "gosandbox_runs_total", "Jobs that ended, by kind (run, test, vet, fmt) and verdict.", ["kind", "status"]
)
QUEUE_WAIT = Histogram(
    "gosandbox_queue_wait_seconds",
    "From a submission's creation to the start of its attempt.",
    ["kind"],
    buckets=LATENCY_BUCKETS_S,
)
COMPILE_DURATION = Histogram(
    "gosandbox_compile_duration_seconds", "Build step of a job (a binary-cache hit has none).", ["kind"],
    buckets=LATENCY_BUCKETS_S,
)  # fmt: skip
RUN_DURATION = Histogram(
    "gosandbox_run_duration_seconds", "The program's (or test binary's) run in its sandbox.", ["kind"],
    buckets=LATENCY_BUCKETS_S,
)  # fmt: skip
JOB_DURATION = Histogram(
    "gosandbox_job_duration_seconds", "From a submission's creation to its end: queue wait, build and run.", ["kind"],
    buckets=LATENCY_BUCKETS_S,
)  # fmt: skip
RUNS_IN_FLIGHT = Gauge("gosandbox_runs_in_flight", "Jobs this process is executing now.")
RUNS_QUEUED = Gauge(
    "gosandbox_runs_queued",
    "Jobs waiting to start: this server's own queue (embedded), or the store's (distributed; same on every API node).",
)
POOL_READY = Gauge("gosandbox_pool_sandboxes_ready", "Run sandboxes started ahead of need, idle and ready.")
BINARY_CACHE = Counter(
    "gosandbox_binary_cache_lookups_total", "Lookups of built binaries, by result (hit, miss).", ["result"]
)
SANDBOXES_CREATED = Counter("gosandbox_sandboxes_created_total", "Sandboxes started, by role (run, builder).", ["role"])
SANDBOXES_REMOVED = Counter("gosandbox_sandboxes_removed_total", "Sandboxes removed, by role (run, builder).", ["role"])
SANDBOXES_REAPED = Counter(
    "gosandbox_sandboxes_reaped_total", "Sandboxes a crashed earlier process of this instance left, removed at start."
)
BUILDER_RESTARTS = Counter(
    "gosandbox_builder_restarts_total", "Builder sandboxes started again because the previous one had stopped."
)
HTTP_REQUESTS = Counter(
    "gosandbox_http_requests_total",
    "HTTP requests answered, by method, route template (e.g. /submissions/{submission_id}) and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "gosandbox_http_request_duration_seconds",
    "From a request's arrival to its response's end (a stream: its whole length), by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS_S,
)
RATE_LIMIT_REFUSALS = Counter(
    "gosandbox_rate_limit_refusals_total",
    "Requests refused with 429 by a key's token bucket or daily quota, by key name (never the key).",
    ["key"],
)
STORED_BYTES = Gauge(
    "gosandbox_stored_bytes",
    "Bytes the store keeps for every owner together, by what holds them (submissions, shares): what quotas count.",
    ["what"],
)
WEBHOOK_DELIVERIES = Counter(
    "gosandbox_webhook_deliveries_total",
    "Callbacks, by outcome: delivered, failed (no 2xx after the retries), refused (host not allowed), dropped.",
    ["outcome"],
)

#: The label of a request no route matched (never its raw path).
UNMATCHED_ROUTE = "unmatched"


# --- jobs --------------------------------------------------------------------------------------


def job_started(kind: str, created_at: float | None) -> None:
    """A job's attempt starts; ``created_at``: its submission's ``time.time()`` (None: unknown)."""
    if created_at is not None:
        QUEUE_WAIT.labels(kind).observe(max(0.0, time.time() - created_at))


def job_ended(kind: str, status: str, result: dict[str, Any] | None, created_at: float | None) -> None:
    """One ended job: its verdict, and the timings its result reports (milliseconds there)."""
    RUNS.labels(kind, status).inc()
    timings = (result or {}).get("timings_ms")
    if isinstance(timings, dict):
        if not (result or {}).get("cached"):
            COMPILE_DURATION.labels(kind).observe(timings.get("compile", 0) / 1000)
        if kind in ("run", "test") and status != "compile_error":
            RUN_DURATION.labels(kind).observe(timings.get("run", 0) / 1000)
    if created_at is not None:
        JOB_DURATION.labels(kind).observe(max(0.0, time.time() - created_at))


def verdict_of(state: str, result: dict[str, Any] | None) -> str:
    """The status label: the result's verdict; ``failed`` (service error) or ``cancelled`` otherwise.

    >>> verdict_of("done", {"status": "timeout"}), verdict_of("done", {"ok": False}), verdict_of("failed", None)
    ('timeout', 'compile_error', 'failed')
    """
    if result is None:
        return state
    if "status" in result:
        return str(result["status"])
    return "ok" if result.get("ok") else "compile_error"  # fmt has no status: ok, or syntax errors


def watch_queue(count: Callable[[], int]) -> None:
    """Report ``count()`` as the queued gauge at each scrape (a failing count reads as NaN)."""
    RUNS_QUEUED.set_function(_guarded(count))


def watch_pool(ready: Callable[[], int]) -> None:
    POOL_READY.set_function(_guarded(ready))


def watch_storage(submissions: Callable[[], int], shares: Callable[[], int]) -> None:
    """Report the store's bytes at each scrape (a failing count reads as NaN)."""
    STORED_BYTES.labels("submissions").set_function(_guarded(submissions))
    STORED_BYTES.labels("shares").set_function(_guarded(shares))


def _guarded(read: Callable[[], int]) -> Callable[[], float]:
    def value() -> float:
        try:
            return float(read())
        except Exception as exc:  # a scrape must not fail because the database is away
            logger.debug("metric probe failed: %s", exc)
            return math.nan

    return value


# --- sandboxes, cache, webhooks ----------------------------------------------------------------


def sandbox_created(role: str) -> None:
    SANDBOXES_CREATED.labels(role).inc()


def sandbox_removed(role: str) -> None:
    SANDBOXES_REMOVED.labels(role).inc()


def sandboxes_reaped(count: int) -> None:
    SANDBOXES_REAPED.inc(count)


def builder_restarted() -> None:
    BUILDER_RESTARTS.inc()


def binary_cache_lookup(hit: bool) -> None:
    BINARY_CACHE.labels("hit" if hit else "miss").inc()


def webhook_outcome(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def rate_limit_refused(key_name: str) -> None:
    RATE_LIMIT_REFUSALS.labels(key_name).inc()


# --- HTTP --------------------------------------------------------------------------------------


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def http_request(method: str, route: str, status: int, duration_s: float) -> None:
    """One answered request; a method outside the standard ones is ``OTHER`` (a client must not mint series)."""
    method = method if method in _METHODS else "OTHER"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(duration_s)


def scrape() -> tuple[bytes, str]:
    """The exposition of every metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """``gosandbox worker --metrics-port``: /metrics on its own small HTTP server, in a daemon thread."""
    start_http_server(port, addr=host, registry=REGISTRY)
    logger.info("metrics on http://%s:%d/metrics", host, port)


# Each labelled series exists from the start (at zero), so a rate() has a baseline and a dashboard no holes.
for _role in ("run", "builder"):
    SANDBOXES_CREATED.labels(_role)
    SANDBOXES_REMOVED.labels(_role)
for _result in ("hit", "miss"):
    BINARY_CACHE.labels(_result)
for _outcome in ("delivered", "failed", "refused", "dropped"):
    WEBHOOK_DELIVERIES.labels(_outcome)

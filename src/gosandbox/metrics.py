"""Prometheus metrics for gosandbox: every metric the service exports, defined in one place.

All metrics live in prometheus_client's default registry (``prometheus_client.REGISTRY``), so
``GET /metrics`` on the API and ``gosandbox worker --metrics-port`` both serve the same process-wide
set. Callers record an event with one call into this module; no label spelling elsewhere.
"""

from __future__ import annotations

from prometheus_client import Counter

RATE_LIMIT_REFUSALS = Counter(
    "gosandbox_rate_limit_refusals_total",
    "Requests refused with 429 by a key's token bucket or daily quota, by key name (never the key).",
    ["key"],
)

"""Every Redis key, channel and queue name the job layer uses, in one place."""

from __future__ import annotations

import re

#: Dramatiq's namespace: its queues and heartbeats live under this prefix.
QUEUE_NAMESPACE = "gosandbox-queue"
#: The actor every job message names.
ACTOR = "execute_submission"
#: Jobs that name no toolchain: every worker takes them, with its default toolchain.
DEFAULT_QUEUE = "default"
#: Cancel signals: the message is a submission id; the worker running it kills its sandbox.
CANCEL_CHANNEL = "gosandbox:cancel"
#: Workers announce themselves here (one key each, expiring unless refreshed).
WORKER_PREFIX = "gosandbox:worker:"

#: Fairness between API keys (:mod:`gosandbox.jobs.redis_fairness`): the jobs queued and the jobs running,
#: sorted sets of ``<submission id>:<tenant>`` (scored by when queued, and by when the running lease ends).
FAIR_WAITING = "gosandbox:fair:waiting"
FAIR_RUNNING = "gosandbox:fair:running"

_QUEUE_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def events_key(submission_id: str) -> str:
    """The Redis stream of one job's events."""
    return f"gosandbox:events:{submission_id}"


def stdin_key(submission_id: str) -> str:
    """The Redis list carrying an interactive job's live stdin from its API node to its worker, in order."""
    return f"gosandbox:stdin:{submission_id}"


def worker_key(name: str) -> str:
    return f"{WORKER_PREFIX}{name}"


def toolchain_queue(go_version: str | None) -> str:
    """The queue of jobs that asked for ``go_version``: only workers that have it consume it."""
    if go_version is None:
        return DEFAULT_QUEUE
    return "go-" + _QUEUE_SAFE.sub("_", go_version)


def rate_bucket_key(key_name: str) -> str:
    """The token bucket of one API key (a hash: tokens, at), shared by every API node."""
    return f"gosandbox:ratelimit:{key_name}"


def daily_quota_key(key_name: str, utc_day: str) -> str:
    """Units an API key spent on one UTC day (``YYYY-MM-DD``); expires two days later."""
    return f"gosandbox:quota:{key_name}:{utc_day}"

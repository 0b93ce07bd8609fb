"""Jobs on a distributed task queue: Dramatiq on Redis.

Why Dramatiq, not Celery: a Dramatiq worker that dies (SIGKILL, power loss) stops sending
heartbeats, and any other worker moves the messages it held back to the queue once
``GOSANDBOX_HEARTBEAT_TIMEOUT_S`` passes, whatever the job's length. Celery on Redis
redelivers an unacknowledged message only after a visibility timeout that must exceed the
longest job, so a lost job would wait that long, and a long job risks running twice.
Messages are Dramatiq's JSON; they carry only the submission id (the request is in the store).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from gosandbox.errors import Overloaded, QueueUnavailable
from gosandbox.jobs.dispatch import retry_after_s
from gosandbox.jobs.fairness import Tenant, tenant_of
from gosandbox.jobs.keys import ACTOR, CANCEL_CHANNEL, QUEUE_NAMESPACE, WORKER_PREFIX, toolchain_queue
from gosandbox.jobs.redis_clients import sync_client
from gosandbox.jobs.redis_fairness import RedisFairness
from gosandbox.jobs.store import Store

logger = logging.getLogger(__name__)

#: One Redis command in this many (per million) checks for dead workers: about once a second here.
_MAINTENANCE_CHANCE = 20000


#: How often an idle consumer of a delay queue polls (no job is ever delayed; its polls are heartbeats).
_DELAY_QUEUE_POLL_MS = 1000


class _Broker(RedisBroker):
    """Dramatiq's Redis broker, whose delay-queue consumers poll slowly: they only keep the heartbeat."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        if queue_name.endswith(".DQ"):
            timeout = max(timeout, _DELAY_QUEUE_POLL_MS)
        return super().consume(queue_name, prefetch, timeout)


def make_broker(url: str, heartbeat_timeout_s: float) -> RedisBroker:
    """The broker both sides use; only CurrentMessage (no retries: the store decides what runs again)."""
    return _Broker(  # type: ignore[no-untyped-call]
        client=sync_client(url),
        namespace=QUEUE_NAMESPACE,
        heartbeat_timeout=int(heartbeat_timeout_s * 1000),
        maintenance_chance=_MAINTENANCE_CHANCE,
        middleware=[CurrentMessage()],
    )


def job_message(submission_id: str, go_version: str | None, tenant: Tenant) -> Message[None]:
    """The job's message: its id, and its owner's tenant in the options (for the workers' fairness)."""
    return Message(queue_name=toolchain_queue(go_version), actor_name=ACTOR, args=(submission_id,), kwargs={},
                   options={TENANT_OPTION: tenant})  # fmt: skip


#: The message option that names the job's tenant (:mod:`gosandbox.jobs.fairness`).
TENANT_OPTION = "gosandbox_tenant"


class WorkerDirectory:
    """The live workers, as they announce themselves in Redis (read by API nodes)."""

    def __init__(self, client: redis.Redis, cache_s: float = 2.0) -> None:
        self.client, self.cache_s = client, cache_s
        self._cached: tuple[float, list[dict[str, object]]] = (0.0, [])

    def workers(self) -> list[dict[str, object]]:
        read_at, workers = self._cached
        if time.monotonic() - read_at < self.cache_s:
            return workers
        try:
            keys = list(self.client.scan_iter(match=f"{WORKER_PREFIX}*", count=500))
            values = self.client.mget(keys) if keys else []
        except redis.RedisError as exc:
            raise QueueUnavailable(f"Redis does not answer ({type(exc).__name__})") from exc
        workers = [json.loads(value) for value in values if value]
        self._cached = (time.monotonic(), workers)
        return workers

    def go_versions(self) -> list[str]:
        defaults: list[str] = []
        others: list[str] = []
        for worker in self.workers():
            defaults.append(str(worker.get("go_version")))
            others.extend(str(v) for v in worker.get("go_versions", []))  # type: ignore[attr-defined]
        return list(dict.fromkeys(defaults + others))


class QueueDispatcher:
    """API side: jobs go to Redis; ``gosandbox worker`` processes on any host execute them."""

    def __init__(self, url: str, store: Store, *, max_queued: int, heartbeat_timeout_s: float) -> None:
        self.store, self.max_queued = store, max_queued
        self.broker = make_broker(url, heartbeat_timeout_s)
        self.client = sync_client(url)
        self.directory = WorkerDirectory(self.client)
        self.fairness = RedisFairness(self.client, lease_s=heartbeat_timeout_s)

    def start(self) -> None:
        """Nothing to start: the workers run the jobs."""

    def admit(self, count: int = 1) -> None:
        queued = self.store.count_queued()
        if queued + count > self.max_queued:
            slots = sum(int(str(w.get("concurrency", 1))) for w in self._workers_or_none())
            raise Overloaded(f"{queued} jobs are waiting (the queue holds {self.max_queued})",
                             retry_after_s=retry_after_s(queued, slots))  # fmt: skip

    def _workers_or_none(self) -> list[dict[str, object]]:
        try:
            return self.directory.workers()
        except QueueUnavailable:
            return []

    def enqueue(self, submission_id: str, go_version: str | None, tenant: Tenant | None = None) -> None:
        if tenant is None:
            submission = self.store.get_light(submission_id)
            tenant = tenant_of(submission.api_key_name if submission is not None else None)
        message = job_message(submission_id, go_version, tenant)
        try:
            self.fairness.queued(submission_id, tenant)
            self.broker.declare_queue(message.queue_name)
            self.broker.enqueue(message)
        except redis.RedisError as exc:
            with contextlib.suppress(redis.RedisError):
                self.fairness.forget(submission_id, tenant)
            raise QueueUnavailable(f"the task queue (Redis) does not answer ({type(exc).__name__})") from exc

    def resend(self, submission_ids: list[str]) -> list[str]:
        """Duplicates of messages that were not lost are harmless: a claim takes a job once."""
        for submission_id in submission_ids:
            submission = self.store.get_light(submission_id)
            if submission is not None:
                self.enqueue(submission_id, submission.go_version, tenant_of(submission.api_key_name))
        return submission_ids

    def cancel_running(self, submission_id: str) -> None:
        try:
            self.client.publish(CANCEL_CHANNEL, submission_id)
        except redis.RedisError as exc:  # the job is cancelled in the store; its worker cannot finish it
            logger.warning("could not signal the cancel of %s to workers: %s", submission_id, exc)

    def go_versions(self) -> list[str]:
        return self.directory.go_versions()

    def check_ready(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise QueueUnavailable(f"the task queue (Redis) does not answer ({type(exc).__name__})") from exc
        if not self.directory.workers():
            raise QueueUnavailable("no worker is running", hint="start one: gosandbox worker (with this queue URL)")

    def close(self) -> None:
        self.client.close()
        self.broker.close()

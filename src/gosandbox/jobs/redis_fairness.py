"""Fairness between API keys across every worker: what each tenant runs and has waiting, shared in Redis.

Two sorted sets of ``<submission id>:<tenant>`` (:data:`~gosandbox.jobs.keys.FAIR_WAITING`,
:data:`~gosandbox.jobs.keys.FAIR_RUNNING`). An API node adds a job to *waiting* as it enqueues it;
a worker that receives the job asks :meth:`RedisFairness.admit`, which applies
:func:`gosandbox.jobs.fairness.may_start` to what every worker runs: admitted, the job moves to
*running* under a lease; refused, it stays waiting and the worker puts its message at the back of the
queue. Nothing here can hold a slot forever:

- a running entry's score is the end of its lease; the worker renews the leases of its jobs every few
  seconds and removes each at its end; a killed worker's expire after ``lease_s`` (then Dramatiq hands
  its jobs to another worker, which admits them afresh);
- a waiting entry older than ``waiting_ttl_s`` is dropped (a job whose message was lost; the sweeper
  re-sends such a job, which adds it again);
- both sets are bounded by the queue's bound and the workers' slots, and pruned at each admission.

Times are Redis's own clock (``TIME``), so API nodes and workers on other hosts agree. Fairness is
best effort: if Redis contends or fails, a job is admitted (never stalled by its bookkeeping).
"""

from __future__ import annotations

import logging
from collections import Counter

import redis

from gosandbox.jobs.fairness import Tenant, may_start
from gosandbox.jobs.keys import FAIR_RUNNING, FAIR_WAITING

logger = logging.getLogger(__name__)

_ID_LENGTH = 32  # a submission id: 32 hexadecimal digits
_ATTEMPTS = 20  # optimistic transactions before a contended admission lets the job through

#: Add a member to the waiting set at Redis's own time (kept where it is if already there).
_QUEUED = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'NX', t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])
return 1
"""


def member(submission_id: str, tenant: Tenant) -> str:
    return f"{submission_id}:{tenant}"


def tenant_in(entry: object) -> Tenant:
    """The tenant of a set's entry (as Redis answers it: bytes)."""
    text = entry.decode() if isinstance(entry, bytes) else str(entry)
    return text[_ID_LENGTH + 1 :]


def _now_ms(client: redis.Redis | redis.client.Pipeline) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


class RedisFairness:
    def __init__(self, client: redis.Redis, lease_s: float, waiting_ttl_s: float = 600.0) -> None:
        self.client = client
        self.lease_ms, self.waiting_ttl_ms = int(lease_s * 1000), int(waiting_ttl_s * 1000)
        self._queued = client.register_script(_QUEUED)

    def queued(self, submission_id: str, tenant: Tenant) -> None:
        """The API side: ``tenant``'s job is on the queue (call before its message is sent)."""
        self._queued(keys=[FAIR_WAITING], args=[member(submission_id, tenant)])

    def forget(self, submission_id: str, tenant: Tenant, *, running: bool = True) -> None:
        """The job left the queue without running (never sent), or it ended (``running``: its lease goes too)."""
        entry = member(submission_id, tenant)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(FAIR_WAITING, entry)
            if running:
                pipe.zrem(FAIR_RUNNING, entry)
            pipe.execute()

    def admit(self, submission_id: str, tenant: Tenant, cap: int) -> bool:
        """Whether ``tenant``'s job may start now (then it counts as running until :meth:`forget`)."""
        try:
            for _ in range(_ATTEMPTS):
                decided = self._try_admit(member(submission_id, tenant), tenant, cap)
                if decided is not None:
                    return decided
            logger.warning("fairness: admission contended %d times; submission %s admitted", _ATTEMPTS, submission_id)
        except redis.RedisError as exc:
            logger.warning("fairness: Redis failed (%s); submission %s admitted", type(exc).__name__, submission_id)
        return True

    def _try_admit(self, entry: str, tenant: Tenant, cap: int) -> bool | None:
        """One optimistic transaction: the decision, or None when another client changed the sets meanwhile."""
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(FAIR_WAITING, FAIR_RUNNING)  # type: ignore[no-untyped-call]
                now = _now_ms(pipe)
                live = pipe.zrangebyscore(FAIR_RUNNING, now, "+inf")
                # A re-delivery of a job already counted (its worker was lost) is not one more.
                running = Counter(tenant_in(e) for e in live if e != entry.encode())
                waiting = [tenant_in(e) for e in pipe.zrangebyscore(FAIR_WAITING, now - self.waiting_ttl_ms, "+inf")]
                admitted = tenant in may_start([*waiting, tenant], running, cap)
                pipe.multi()
                pipe.zremrangebyscore(FAIR_RUNNING, "-inf", f"({now}")
                pipe.zremrangebyscore(FAIR_WAITING, "-inf", f"({now - self.waiting_ttl_ms}")
                if admitted:
                    pipe.zrem(FAIR_WAITING, entry)
                    pipe.zadd(FAIR_RUNNING, {entry: now + self.lease_ms})
                else:
                    pipe.zadd(FAIR_WAITING, {entry: now}, nx=True)
                pipe.execute()
                return admitted
            except redis.WatchError:
                return None

    def renew(self, entries: list[tuple[str, Tenant]]) -> None:
        """A worker's running jobs are still running: their leases start again."""
        if not entries:
            return
        try:
            expiry = _now_ms(self.client) + self.lease_ms
            self.client.zadd(FAIR_RUNNING, {member(i, t): expiry for i, t in entries}, xx=True)
        except redis.RedisError as exc:
            logger.warning("fairness: could not renew %d lease(s): %s", len(entries), type(exc).__name__)

"""``gosandbox worker``: take jobs from the Redis queue and run them on this host's Docker engine.

Each worker process has its own ``GOSANDBOX_INSTANCE``: at start it removes what a killed
predecessor of that instance left (sandboxes, and its running jobs go back to the queue).
SIGTERM: stop taking jobs, let the running ones finish (bounded), remove every sandbox, exit 0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq import Worker
from dramatiq.middleware import CurrentMessage

from gosandbox.errors import GosandboxError, QueueUnavailable, SandboxFailure
from gosandbox.jobs.execution import CancelSwitches, JobEnd, JobExecutor
from gosandbox.jobs.fairness import Tenant, running_cap, tenant_of
from gosandbox.jobs.keys import ACTOR, CANCEL_CHANNEL, DEFAULT_QUEUE, toolchain_queue, worker_key
from gosandbox.jobs.live import inputs_for
from gosandbox.jobs.queue import TENANT_OPTION, WorkerDirectory, make_broker
from gosandbox.jobs.redis_clients import sync_client
from gosandbox.jobs.redis_fairness import RedisFairness
from gosandbox.jobs.submission import State
from gosandbox.runner import Runner
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

_ANNOUNCE_EVERY_S = 3.0
#: The longest a consumer sleeps between polls of an empty queue: the pick-up latency when idle.
_POLL_MS = 20
#: The pause before a job refused by the per-key cap goes back to the queue.
_DEFER_PAUSE_S = 0.005


def _is_a_worker(pid: object) -> bool:
    try:
        return b"worker" in Path(f"/proc/{int(str(pid))}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False


class JobWorker:
    def __init__(self, settings: Settings, runner: Runner, end: JobEnd, concurrency: int) -> None:
        assert settings.queue_url is not None
        self.settings, self.backend, self.concurrency = settings, runner.backend, concurrency
        self.name = settings.instance
        self.executor = JobExecutor(runner, end, worker=self.name, max_attempts=settings.max_attempts,
                                    inputs=inputs_for(settings.queue_url))  # fmt: skip
        self.running = CancelSwitches()
        self.redis = sync_client(settings.queue_url)
        self.broker = make_broker(settings.queue_url, settings.heartbeat_timeout_s)
        self._stopping = threading.Event()
        self.directory = WorkerDirectory(self.redis)
        # A lease outlives a few missed renewals (every _ANNOUNCE_EVERY_S); a killed worker's ends with it.
        self.fairness = RedisFairness(self.redis, lease_s=max(settings.heartbeat_timeout_s, 4 * _ANNOUNCE_EVERY_S))
        self._admitted: dict[str, Tenant] = {}  # the jobs this worker admitted and runs: their leases
        self._lock = threading.Lock()
        dramatiq.actor(actor_name=ACTOR, queue_name=DEFAULT_QUEUE, broker=self.broker)(self._execute)
        for version in self.backend.go_versions:
            self.broker.declare_queue(toolchain_queue(version))

    def _execute(self, submission_id: str) -> None:
        message = CurrentMessage.get_current_message()
        tenant = self._tenant_of(message, submission_id)
        if message is not None and not self.fairness.admit(submission_id, tenant, self._cap()):
            self._defer(message, submission_id)
            return
        token = message.message_id if message is not None else submission_id
        cancel = self.running.add(submission_id)
        with self._lock:
            self._admitted[submission_id] = tenant
        ran = False
        try:
            ran = self.executor.execute(submission_id, token, cancel)
        except Exception:  # the store is down: the job stays queued or running, the API's sweeper re-sends it
            logger.exception("submission %s could not be executed", submission_id)
        finally:
            self.running.remove(submission_id)
            self._release(submission_id, tenant, duplicate=not ran and self._runs_now(submission_id))

    def _release(self, submission_id: str, tenant: Tenant, *, duplicate: bool) -> None:
        """The job no longer counts for its tenant; unless this was a second delivery of a job that runs (the
        sweeper re-sends jobs queued long): that run keeps its lease."""
        with contextlib.suppress(redis.RedisError):
            self.fairness.forget(submission_id, tenant, running=not duplicate)
        if not duplicate:
            with self._lock:
                self._admitted.pop(submission_id, None)

    def _runs_now(self, submission_id: str) -> bool:
        try:
            submission = self.executor.store.get_light(submission_id)
        except GosandboxError:
            return False
        return submission is not None and submission.state is State.RUNNING

    def _tenant_of(self, message: Any, submission_id: str) -> Tenant:
        """The tenant its message names (one sent before there was fairness names none: the store says)."""
        if message is not None and isinstance(tenant := message.options.get(TENANT_OPTION), str):
            return tenant
        submission = self.executor.store.get_light(submission_id)
        return tenant_of(submission.api_key_name if submission is not None else None)

    def _cap(self) -> int:
        """The per-key cap over every live worker's slots (this one's, if the directory cannot be read)."""
        try:
            slots = sum(int(str(w.get("concurrency", 1))) for w in self.directory.workers())
        except QueueUnavailable:
            slots = 0
        return running_cap(self.settings.max_running_per_key, max(slots, self.concurrency))

    def _defer(self, message: Any, submission_id: str) -> None:
        """Its tenant is at its cap while another waits: the message goes to the back of the queue.

        A short pause first, so a worker whose queue holds only such jobs does not spin on Redis.
        """
        time.sleep(_DEFER_PAUSE_S)
        try:
            self.broker.enqueue(message.copy())
        except redis.RedisError as exc:  # its message is acknowledged anyway: the sweeper re-sends the job
            logger.warning("submission %s: could not put it back on the queue: %s", submission_id, exc)

    def announcement(self) -> dict[str, Any]:
        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                "go_version": self.backend.go_version, "go_versions": self.backend.go_versions,
                "concurrency": self.concurrency, "running": self.running.count(), "at": time.time()}  # fmt: skip

    def _announce_loop(self) -> None:
        while not self._stopping.wait(_ANNOUNCE_EVERY_S):
            self._announce()
            with self._lock:
                admitted = list(self._admitted.items())
            self.fairness.renew(admitted)

    def _announce(self) -> None:
        try:
            self.redis.set(worker_key(self.name), json.dumps(self.announcement()), ex=int(_ANNOUNCE_EVERY_S * 4))
        except redis.RedisError as exc:
            logger.warning("could not announce this worker: %s", exc)

    def _cancel_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(CANCEL_CHANNEL)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and isinstance(message.get("data"), bytes):
                        self.running.cancel(message["data"].decode("ascii", "replace"))
            except redis.RedisError as exc:
                logger.warning("cancel channel lost (%s); reconnecting", type(exc).__name__)
                self._stopping.wait(1.0)

    def _refuse_a_twin(self) -> None:
        """Two live workers with one instance name would reap each other's sandboxes and jobs."""
        try:
            raw = self.redis.get(worker_key(self.name))
        except redis.RedisError:
            return  # no queue yet: Dramatiq's consumers will wait for it
        if not raw:
            return
        other = json.loads(raw)
        same_host = other.get("host") == socket.gethostname()
        alive = _is_a_worker(other.get("pid")) if same_host else time.time() - other.get("at", 0) < 12
        if alive and other.get("pid") != os.getpid():
            where = f"{other.get('host')} (pid {other.get('pid')})"
            raise SandboxFailure(f"a worker named {self.name!r} already runs on {where}",
                                 hint="give each worker process its own GOSANDBOX_INSTANCE")  # fmt: skip

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain."""
        self._refuse_a_twin()
        self.executor.recover(sync_clients_gone=False)  # the queue delivers them again, or the sweeper does
        stop = threading.Event()

        def on_signal(*_: object) -> None:
            if stop.is_set():  # a second signal means now: kill the running sandboxes
                logger.warning("worker %s: second signal; cancelling %d job(s)", self.name, self.running.count())
                self.running.cancel_all()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        worker = Worker(self.broker, worker_threads=self.concurrency, worker_timeout=_POLL_MS)
        worker.queue_prefetch = self.concurrency  # take no more than can start: other workers get the rest
        self._announce()
        threads = [threading.Thread(target=f, daemon=True) for f in (self._announce_loop, self._cancel_loop)]
        for thread in threads:
            thread.start()
        worker.start()
        logger.info("worker %s: %d slot(s), toolchains %s", self.name, self.concurrency, self.backend.go_versions)
        stop.wait()
        logger.info("worker %s: stopping; %d job(s) still running", self.name, self.running.count())
        worker.stop(timeout=int(self.settings.longest_job_s() * 1000))
        self._stopping.set()
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(worker_key(self.name))

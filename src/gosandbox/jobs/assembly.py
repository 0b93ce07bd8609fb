"""Put the job layer together from settings: embedded (the server's own slots) or distributed (Redis)."""

from __future__ import annotations

from gosandbox.backends.base import Backend
from gosandbox.jobs.dispatch import Dispatcher, LocalDispatcher
from gosandbox.jobs.events import EventLog, MemoryEventLog
from gosandbox.jobs.execution import JobEnd, JobExecutor
from gosandbox.jobs.migrate import upgrade
from gosandbox.jobs.service import JobService
from gosandbox.jobs.store import Store, make_engine
from gosandbox.jobs.webhooks import Webhooks
from gosandbox.runner import Runner
from gosandbox.settings import Settings


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store at ``settings.store_url()``, its schema brought up to date first."""
    if settings.database_url is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.store_url())
    if migrate:
        upgrade(engine)
    return Store(engine)


def event_log(settings: Settings) -> EventLog:
    if settings.queue_url is None:
        return MemoryEventLog()
    from gosandbox.jobs.redis_events import RedisEventLog  # noqa: PLC0415 - Redis only when configured

    return RedisEventLog(settings.queue_url)


def job_end(settings: Settings, store: Store, events: EventLog) -> JobEnd:
    webhooks = Webhooks(settings.callback_secret, store.set_callback) if settings.allowed_callback_hosts() else None
    return JobEnd(store, events, webhooks)


def job_service(settings: Settings, store: Store, runner: Runner | None, backend: Backend | None) -> JobService:
    """Embedded without ``GOSANDBOX_QUEUE_URL`` (``runner`` and ``backend`` required), else through Redis."""
    events = event_log(settings)
    end = job_end(settings, store, events)
    dispatcher: Dispatcher
    if settings.queue_url is None:
        assert runner is not None
        assert backend is not None
        executor = JobExecutor(runner, end, worker=settings.instance, max_attempts=settings.max_attempts)
        dispatcher = LocalDispatcher(executor, backend, settings.max_concurrent_runs, settings.max_queued)
    else:
        from gosandbox.jobs.queue import QueueDispatcher  # noqa: PLC0415

        dispatcher = QueueDispatcher(settings.queue_url, store, max_queued=settings.max_queued,
                                     heartbeat_timeout_s=settings.heartbeat_timeout_s)  # fmt: skip
    return JobService(settings, store, events, dispatcher, end)

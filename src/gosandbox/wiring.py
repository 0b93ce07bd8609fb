"""Components built from settings, in one place: backend, runner, store, job service, worker.

Embedded (no ``GOSANDBOX_QUEUE_URL``): jobs run on the server's own slots. Distributed: API
nodes send jobs through Redis to ``gosandbox worker`` processes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gosandbox import metrics
from gosandbox.backends.base import Backend
from gosandbox.binary_cache import BinaryCache
from gosandbox.errors import BackendUnavailable
from gosandbox.runner import Runner
from gosandbox.settings import Settings

# The job stack (SQLAlchemy, Alembic) and the compatibility layers (FastAPI) load in the functions that assemble
# them: `gosandbox run` needs only a backend and a runner, and answers in well under a second without them.
if TYPE_CHECKING:
    from gosandbox.backends.docker.backend import DockerConfig
    from gosandbox.backends.oci.backend import OciConfig
    from gosandbox.jobs.dispatch import Dispatcher
    from gosandbox.jobs.events import EventLog
    from gosandbox.jobs.execution import JobEnd
    from gosandbox.jobs.service import JobService
    from gosandbox.jobs.store import Store

logger = logging.getLogger(__name__)


def make_runner(settings: Settings, backend: Backend) -> Runner:
    cache = None
    # With a module proxy, "latest" versions can change under the same files: no binary cache then.
    if settings.binary_cache_mb > 0 and settings.module_proxy_dir() is None:
        identity = backend.build_identity
        cache = BinaryCache(
            settings.state_dir / "binaries", max_bytes=settings.binary_cache_mb * 1024 * 1024, build_identity=identity
        )
    return Runner(backend, build_timeout_s=settings.build_timeout_s, cache=cache)


def make_backend(settings: Settings, **overrides: Any) -> Backend:
    """The backend ``settings.backend`` names: ``docker``, or ``oci`` (runc/runsc driven directly, as root).

    ``overrides`` set fields of its builders' configuration (``BuildsConfig``) beyond the settings, as the
    command line's ``keep_builders``. Raises :class:`BackendUnavailable` with a hint when the OCI backend cannot
    run here (not root, no runtime).
    """
    if settings.backend == "oci":
        from gosandbox.backends.oci.backend import OciBackend  # noqa: PLC0415

        return OciBackend(oci_config_from_settings(settings, **overrides))
    from gosandbox.backends.docker.backend import DockerBackend  # noqa: PLC0415 - SDK stays optional

    return DockerBackend(config_from_settings(settings, **overrides))


def start_backend(backend: Backend) -> None:
    try:
        backend.start()
    except BackendUnavailable as exc:
        logger.error("the sandbox backend is not ready yet: %s (%s)", exc, exc.hint)


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The store at ``settings.store_url()``, its schema brought up to date first."""
    from gosandbox.jobs.migrate import upgrade  # noqa: PLC0415
    from gosandbox.jobs.store import Store, make_engine  # noqa: PLC0415

    if settings.database_url is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.store_url())
    if migrate:
        upgrade(engine)
    return Store(engine)


def event_log(settings: Settings) -> EventLog:
    from gosandbox.jobs.events import MemoryEventLog  # noqa: PLC0415

    if settings.queue_url is None:
        return MemoryEventLog()
    from gosandbox.jobs.redis_events import RedisEventLog  # noqa: PLC0415 - Redis only when configured

    return RedisEventLog(settings.queue_url)


def job_end(settings: Settings, store: Store, events: EventLog) -> JobEnd:
    from gosandbox.compat.judge0.render import CALLBACK_SHAPES as judge0_callbacks  # noqa: PLC0415
    from gosandbox.jobs.execution import JobEnd  # noqa: PLC0415
    from gosandbox.jobs.webhooks import Webhooks  # noqa: PLC0415

    # The callbacks the compatibility layers send (Judge0's ``PUT``), by the name their requests give.
    webhooks = Webhooks(settings.allowed_callback_hosts(), settings.callback_secret, store.set_callback,
                        {**judge0_callbacks})  # fmt: skip
    return JobEnd(store, events, webhooks)


def job_service(settings: Settings, store: Store, runner: Runner | None, backend: Backend | None) -> JobService:
    """Embedded without ``GOSANDBOX_QUEUE_URL`` (``runner`` and ``backend`` required), else through Redis."""
    from gosandbox.jobs.dispatch import LocalDispatcher  # noqa: PLC0415
    from gosandbox.jobs.execution import JobExecutor  # noqa: PLC0415
    from gosandbox.jobs.service import JobService  # noqa: PLC0415

    events = event_log(settings)
    end = job_end(settings, store, events)
    dispatcher: Dispatcher
    if settings.queue_url is None:
        assert runner is not None
        assert backend is not None
        executor = JobExecutor(runner, end, worker=settings.instance, max_attempts=settings.max_attempts)
        local = LocalDispatcher(executor, backend, settings.max_concurrent_runs, settings.max_queued,
                                settings.max_running_per_key)  # fmt: skip
        metrics.watch_queue(lambda: local.waiting)
        dispatcher = local
    else:
        from gosandbox.jobs.queue import QueueDispatcher  # noqa: PLC0415

        dispatcher = QueueDispatcher(settings.queue_url, store, max_queued=settings.max_queued,
                                     heartbeat_timeout_s=settings.heartbeat_timeout_s)  # fmt: skip
        metrics.watch_queue(store.count_queued)  # the store's count: every API node reports the same
    return JobService(settings, store, events, dispatcher, end)


def local_service(settings: Settings) -> tuple[JobService, Backend]:
    """The embedded job service of a process that serves alone (``gosandbox mcp``), and its backend, started."""
    backend = make_backend(settings)
    service = job_service(settings, open_store(settings), make_runner(settings, backend), backend)
    start_backend(backend)
    return service, backend


def run_worker(settings: Settings, concurrency: int) -> None:
    """``gosandbox worker``: serve jobs from the queue on this host's Docker engine until SIGTERM."""
    from gosandbox.jobs.worker import JobWorker  # noqa: PLC0415

    store = open_store(settings)
    events = event_log(settings)
    end = job_end(settings, store, events)
    backend = make_backend(settings)
    try:
        backend.start()  # removes what a killed predecessor of this instance left
        JobWorker(settings, make_runner(settings, backend), end, concurrency).run()
    finally:
        end.webhooks.close()
        events.close()
        backend.close()


def _builds_values(settings: Settings) -> dict[str, Any]:
    """The settings every backend's builders take (``BuildsConfig``'s fields)."""
    return {
        "state_dir": settings.state_dir,
        "instance": settings.instance,
        "base_image": settings.go_image,
        "policy": settings.policy(),
        "builder_memory_mb": settings.builder_memory_mb,
        "module_proxy_dir": settings.module_proxy_dir(),
        "toolchains": settings.toolchains(),
    }


def config_from_settings(settings: Settings, **overrides: Any) -> DockerConfig:
    """The Docker backend's configuration from the server settings (``overrides`` win)."""
    from gosandbox.backends.docker.backend import DockerConfig  # noqa: PLC0415 - SDK stays optional

    values = _builds_values(settings) | {
        "default_limits": settings.default_limits(),
        "pool_size": settings.pool_size,
        "sandbox_lease_s": settings.sandbox_lease_s,
    }
    return DockerConfig(**(values | overrides))


def oci_config_from_settings(settings: Settings, **overrides: Any) -> OciConfig:
    """The OCI backend's configuration from the server settings (``overrides`` go to its builders' part)."""
    from gosandbox.backends.docker.builds import BuildsConfig  # noqa: PLC0415 - SDK stays optional
    from gosandbox.backends.oci.backend import OciConfig  # noqa: PLC0415

    builds = BuildsConfig(**(_builds_values(settings) | overrides))
    return OciConfig(builds, runtime=settings.runtime, runsc_binary=settings.runsc_path,
                     runsc_platform=settings.runsc_platform, ahead=settings.pool_size,
                     default_limits=settings.default_limits(), lease_s=settings.sandbox_lease_s)  # fmt: skip

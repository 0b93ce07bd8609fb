"""``gosandbox mcp``: the MCP tools over stdio, for desktop agents, running jobs on the local Docker engine.

The process runs the same embedded job service as ``gosandbox serve`` (backend, runner, store,
dispatcher; started and closed in the same order), which the caller assembles
(:func:`gosandbox.wiring.local_service`), and serves :func:`gosandbox.mcp.server.build_mcp_server`
on stdin/stdout. stdout is the protocol: logs go to stderr (the CLI configures them so).

An agent may start several of these at once (one per conversation). Each takes the first free
*slot*: an instance label ``<GOSANDBOX_INSTANCE>-mcp<N>`` held by a lock file, with its own SQLite
store. So one process never reaps another's sandboxes nor runs another's queued jobs, and the next
process in a slot removes whatever a killed one left behind (as ``serve`` does for its instance).

It ends when stdin closes, or at SIGTERM/SIGINT: the running jobs' sandboxes are killed and every
sandbox of its slot is removed before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio

from gosandbox.backends.base import Backend
from gosandbox.errors import GosandboxError
from gosandbox.jobs.dispatch import LocalDispatcher
from gosandbox.jobs.service import JobService
from gosandbox.mcp.server import build_mcp_server
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

#: At most this many ``gosandbox mcp`` processes of one instance run at once.
MAX_SLOTS = 16

#: Builds the embedded job service and its backend from a slot's settings, the backend started.
Assemble = Callable[[Settings], tuple[JobService, Backend]]


@contextlib.contextmanager
def claimed_slot(settings: Settings) -> Iterator[Settings]:
    """The settings of the first free slot (its instance label and store), held until the block ends."""
    slots_dir = settings.state_dir / "mcp"
    slots_dir.mkdir(parents=True, exist_ok=True)
    for number in range(1, MAX_SLOTS + 1):
        instance = f"{settings.instance[:56]}-mcp{number}"
        with _locked(slots_dir / f"{instance}.lock") as held:
            if not held:
                continue
            store_url = f"sqlite:///{slots_dir / instance}.db"
            yield settings.model_copy(update={"instance": instance, "database_url": store_url, "queue_url": None})
            return
    raise GosandboxError(
        f"{MAX_SLOTS} gosandbox mcp processes of instance {settings.instance!r} run already",
        hint="stop one, or give this one another GOSANDBOX_INSTANCE",
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve_stdio(settings: Settings, assemble: Assemble) -> None:
    """Serve MCP on stdin/stdout until stdin closes or a stop signal arrives, on the service ``assemble`` builds."""
    # A stop signal while the service is assembled (its backend may have started sandboxes already) is kept, and
    # acted on as soon as the loop runs: not the default action, which would leave those sandboxes behind.
    early: list[int] = []
    for number in _STOP_SIGNALS:
        signal.signal(number, lambda number, _frame: early.append(number))
    with claimed_slot(settings) as slot:
        service, backend = assemble(slot)
        logger.info("gosandbox mcp: serving on stdio; sandboxes labelled gosandbox.instance=%s", slot.instance)
        anyio.run(_serve, slot, service, backend, early)


async def _serve(settings: Settings, service: JobService, backend: Backend, early: list[int]) -> None:
    closer = _Closer(service, backend)
    _stop_on_signals(closer, early)
    await asyncio.to_thread(service.dispatcher.start)
    sweeper = asyncio.create_task(service.sweep_forever())
    try:
        await build_mcp_server(settings, service).run_stdio_async()
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        with anyio.CancelScope(shield=True):
            await asyncio.to_thread(closer.close)


def _stop_on_signals(closer: _Closer, early: list[int]) -> None:
    """SIGTERM or SIGINT (or one of ``early``, which came before): remove the sandboxes, then exit 128+N at once.

    Not by cancelling the server: the SDK reads stdin in a thread that no cancellation ends, so a
    server whose stdin is still open would never get past it. (A stdio client closes stdin first,
    and sends SIGTERM only to a server that outlives that.)
    """
    loop = asyncio.get_running_loop()

    def stop(number: int) -> None:
        logger.info("gosandbox mcp: signal %d; removing the sandboxes, then exiting", number)
        closer.exiting.append(loop.create_task(closer.close_and_exit(128 + number)))

    for number in _STOP_SIGNALS:
        loop.add_signal_handler(number, stop, number)
    if early:
        stop(early[0])


class _Closer:
    """Closes the service once, whichever comes first: stdin's end or a stop signal."""

    def __init__(self, service: JobService, backend: Backend) -> None:
        self.service, self.backend = service, backend
        self._lock = threading.Lock()
        self._closed = False
        self.exiting: list[asyncio.Task[None]] = []  # held, so that the loop does not drop them

    def close(self) -> None:
        """Kill what still runs (its caller is gone), then close in the HTTP app's order."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            dispatcher = self.service.dispatcher
            if isinstance(dispatcher, LocalDispatcher) and dispatcher.running:
                dispatcher.stop_now()
            dispatcher.close()
            self.service.end.webhooks.close()
            self.service.events.close()
            self.backend.close()
        logger.info("gosandbox mcp: stopped; its sandboxes are removed")

    async def close_and_exit(self, code: int) -> None:
        await asyncio.to_thread(self.close)
        logging.shutdown()
        os._exit(code)  # the stdin thread would hold a normal exit until stdin closes

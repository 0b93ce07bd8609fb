"""``gosandbox serve``: the API under uvicorn, with a stop signal that drains and a second one that means now.

- The first SIGINT or SIGTERM drains (uvicorn's graceful shutdown): no new connection is taken,
  every running job finishes and its client gets its answer, then the sandboxes are removed and
  the process exits 0.
- A second one (either signal) stops now: every running job's sandbox is killed at once, every
  waiting synchronous request answers ``503`` ``application/problem+json`` (its job is cancelled),
  a job of ``/submissions`` goes back to the queue in the store and runs at the next start; the
  sandboxes are removed and the process exits ``128 + the signal's number`` (130 after Ctrl-C,
  143 after SIGTERM): stopped before its work was done.
- A third one is uvicorn's forced quit: no clean-up (the next start reaps what is left).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import resource
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from gosandbox.edge.guard import EdgeLimits, guarded_protocol
from gosandbox.logs import limit_repeats
from gosandbox.settings import Settings

logger = logging.getLogger(__name__)

#: uvicorn's exit code when the server could not start (the port is taken, the app failed to start).
STARTUP_FAILURE = 3


class StoppableServer(uvicorn.Server):
    """uvicorn's server; the second stop signal calls ``stop_now`` on the event loop instead of forcing the exit."""

    def __init__(self, config: uvicorn.Config, stop_now: Callable[[], None]) -> None:
        super().__init__(config)
        self.stop_now = stop_now
        self.signals: list[int] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, once it serves

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:  # noqa: ARG002 - uvicorn's signature
        # Not uvicorn's: it re-raises every caught signal at the end (the exit code is ours), and
        # its second SIGINT cancels the requests in flight (a 500 and a traceback each) and skips
        # the clean-up while the running jobs hold the process until their wall limit.
        self.signals.append(sig)
        if len(self.signals) == 1:
            self.should_exit = True
        elif len(self.signals) == 2 and self.loop is not None:
            # A signal handler may interrupt the loop's thread anywhere (inside a lock, say): defer.
            self.loop.call_soon_threadsafe(self.stop_now)
        else:
            self.force_exit = True

    @property
    def exit_code(self) -> int:
        """0 after a drain; 128 + the second signal's number after a stop at once."""
        return 128 + self.signals[1] if len(self.signals) > 1 else 0


def serve(app: FastAPI, settings: Settings, host: str, port: int) -> None:
    """Serve ``app`` (from :func:`gosandbox.api.create_app`) until stopped; exit as the module says."""
    raise_file_limit()
    return_large_buffers()
    edge = EdgeLimits(settings.head_timeout_s, settings.body_min_bytes_per_s, settings.connection_cap(),
                      settings.write_timeout_s, settings.answer_buffer_mb * 1024 * 1024)  # fmt: skip
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(edge),
        log_level=settings.log_level.lower(),
        # JSON: uvicorn's records go to our root handler (see gosandbox.logs), not to its own text handlers.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        timeout_keep_alive=max(1, round(settings.keep_alive_s)),
        ws_max_size=settings.interactive_message_bytes,  # interactive runs: a bigger message is refused (1009)
        timeout_graceful_shutdown=int(settings.max_wall_s + settings.build_timeout_s),
    )
    limit_repeats(settings.max_log_repeats)  # after uvicorn set up its log handlers
    logger.info("connections: at most %d open, request heads within %.0f s", edge.max_connections,
                edge.head_timeout_s)  # fmt: skip
    server = StoppableServer(config, app.state.stop_now)
    # uvicorn restores the handlers it found when it is done: a late signal then changes nothing.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: None)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
    sys.exit(server.exit_code)


#: glibc's mallopt parameter: allocations from this size up are mapped on their own (and unmapped when freed).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_buffers() -> None:
    """Large buffers (an answer of several MiB, its JSON text) go back to the system when freed.

    glibc raises its mmap threshold to the size of each mapped block freed, up to 32 MiB; after a
    few large answers every later one comes from the heap, whose freed pages the process keeps:
    16 stalled readers of a 6 MiB answer left the server 93 MB larger once they were cut (8 MB with this).
    Fixed at glibc's initial 128 KiB, those blocks are unmapped when freed. Elsewhere: nothing.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):  # not glibc
        logger.debug("mallopt is not available: large buffers stay with the process once freed")


def raise_file_limit() -> None:
    """Open files: the soft limit raised to the hard one (the connection cap is half of it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

"""The benchmark's distributed set-up: a redis-server of its own, two workers and an API node, on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from gosandbox.bench.scenarios import free_port

StartServer = Callable[..., "subprocess.Popen[bytes]"]


def _redis_server(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("the queue scenarios need redis-server (make setup installs it), or pass --no-queue")
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
               "--dir", str(directory)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            return process, url
        except redis.RedisError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("redis-server did not answer")


def _worker(env: dict[str, str], instance: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gosandbox.cli.main", "worker", "--concurrency", "1"]
    return subprocess.Popen(command, env={**env, "GOSANDBOX_INSTANCE": instance})  # noqa: S603


@contextmanager
def queue_cluster(directory: Path, start_server: StartServer) -> Iterator[str]:
    """Yield the API node's URL; everything is stopped (SIGTERM, drained) at the end."""
    directory.mkdir(parents=True)
    redis_process, queue_url = _redis_server(directory)
    tag = f"bench-{os.getpid()}"
    env = {**os.environ, "GOSANDBOX_QUEUE_URL": queue_url, "GOSANDBOX_STATE_DIR": str(directory),
           "GOSANDBOX_LOG_LEVEL": "warning"}  # fmt: skip
    workers = [_worker(env, f"{tag}-w{n}") for n in (1, 2)]
    port = free_port()
    api = None
    try:
        _wait_for_workers(queue_url, 2)
        api = start_server(port, str(directory), f"{tag}-api", GOSANDBOX_QUEUE_URL=queue_url)
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in [p for p in (api, *workers) if p is not None]:
            process.send_signal(signal.SIGTERM)
        for process in [p for p in (api, *workers) if p is not None]:
            process.wait(timeout=120)
        redis_process.kill()
        redis_process.wait()


def _wait_for_workers(url: str, count: int) -> None:
    client = redis.Redis.from_url(url)
    for _ in range(600):
        if len(client.keys("gosandbox:worker:*")) >= count:
            time.sleep(1.5)  # let their pools fill
            return
        time.sleep(0.1)
    raise SystemExit("the workers did not start within 60 s")

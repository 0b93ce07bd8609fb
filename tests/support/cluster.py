"""Real processes for the distributed tests: a Redis server of their own, an API node, workers.

Everything listens on 127.0.0.1. Every process gets an instance label under this test run's,
so the session's finalizer checks that no container of theirs is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import create_engine, text

from support.docker_helpers import TEST_INSTANCE, free_port, reap_until_quiet
from support.jobs_helpers import POSTGRES_URL

#: Short enough for quick tests: a silent worker is taken for dead after this.
HEARTBEAT_TIMEOUT_S = 3
#: Jobs queued this long are sent again (the queue may have lost them).
REQUEUE_AFTER_S = 5


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"not within {timeout_s} s: {what}")


class Process:
    """A child process whose output goes to a log file under the test's directory."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.command, self.env, self.log = name, command, env, log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.running:
            self.signal(signal.SIGKILL)
            self.wait(10)


class RedisServer:
    """A redis-server of the test's own (no persistence), so that a test may stop and restart it."""

    def __init__(self, directory: Path) -> None:
        self.port, self.directory = free_port(), directory
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly",
                   "no", "--dir", str(directory)]  # fmt: skip
        self.process = Process("redis", command, dict(os.environ), directory / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process.start()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_until(lambda: _pings(client), 15, "redis-server answers")

    def stop(self) -> None:
        self.process.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@contextmanager
def postgres_schema(name: str) -> Iterator[str]:
    """A schema of its own in the test database; yields a URL whose search_path is that schema."""
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


class Cluster:
    """One API node and named workers, on one Redis and one PostgreSQL schema."""

    def __init__(self, directory: Path, database_url: str, redis_server: RedisServer, concurrency: int = 2) -> None:
        self.directory, self.database_url, self.redis = directory, database_url, redis_server
        self.concurrency = concurrency
        self.api_port = free_port()
        self.api = Process("api", self._command("serve", "--port", str(self.api_port)), self.env("api"),
                           directory / "api.log")  # fmt: skip
        self.workers: dict[str, Process] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @staticmethod
    def _command(*args: str) -> list[str]:
        return [sys.executable, "-m", "gosandbox.cli.main", *args]

    def instance(self, name: str) -> str:
        return f"{TEST_INSTANCE}-{name}"

    def env(self, name: str) -> dict[str, str]:
        return {
            **os.environ,
            "GOSANDBOX_INSTANCE": self.instance(name),
            "GOSANDBOX_STATE_DIR": str(self.directory / "state"),
            "GOSANDBOX_QUEUE_URL": self.redis.url,
            "GOSANDBOX_DATABASE_URL": self.database_url,
            "GOSANDBOX_POOL_SIZE": "1",
            "GOSANDBOX_BINARY_CACHE_MB": "0",
            "GOSANDBOX_HEARTBEAT_TIMEOUT_S": str(HEARTBEAT_TIMEOUT_S),
            "GOSANDBOX_REQUEUE_AFTER_S": str(REQUEUE_AFTER_S),
            "GOSANDBOX_LOG_LEVEL": "info",
        }

    def add_worker(self, name: str, **env: str) -> Process:
        command = self._command("worker", "--concurrency", str(self.concurrency))
        worker = Process(name, command, {**self.env(name), **env}, self.directory / f"{name}.log")
        self.workers[name] = worker
        return worker

    def start(self, workers: list[str]) -> None:
        self.api.start()
        for name in workers:
            self.add_worker(name).start()
        wait_until(lambda: self.ready_workers() >= len(workers), 60, f"{len(workers)} workers announce themselves")

    def add_api(self, name: str) -> str:
        """Another API node on the same queue and database; returns its URL once it is ready."""
        port = free_port()
        node = Process(
            name, self._command("serve", "--port", str(port)), self.env(name), self.directory / f"{name}.log"
        )
        node.start()
        self.workers[name] = node  # stopped and reaped with the rest
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/readyz"), 60, f"API node {name} is ready")
        return url

    def ready_workers(self) -> int:
        try:
            if httpx.get(f"{self.url}/readyz", timeout=2).status_code != 200:
                return 0
            return len(redis.Redis.from_url(self.redis.url).keys("gosandbox:worker:*"))
        except (httpx.HTTPError, redis.RedisError):
            return 0

    def restart_worker(self, name: str) -> None:
        worker = self.workers[name]
        worker.kill()
        worker.start()

    def worker_of(self, submission: dict[str, Any]) -> str:
        """The short name of the worker that runs (or ran) a submission."""
        return str(submission["worker"]).removeprefix(f"{TEST_INSTANCE}-")

    def close(self) -> None:
        for process in [self.api, *self.workers.values()]:
            process.kill()
        for name in ["api", *self.workers]:
            reap_until_quiet(self.instance(name))


class Api:
    """A small client of the cluster's API node."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30, trust_env=False)

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/submissions", json=body)
        assert response.status_code == 201, response.text
        submission: dict[str, Any] = response.json()
        return submission

    def get(self, submission_id: str) -> dict[str, Any]:
        response = self.client.get(f"/submissions/{submission_id}")
        assert response.status_code == 200, response.text
        submission: dict[str, Any] = response.json()
        return submission

    def wait_finished(self, submission_id: str, timeout_s: float) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            submission = self.get(submission_id)
            return submission if submission["state"] in ("done", "failed", "cancelled") else None

        result: dict[str, Any] = wait_until(finished, timeout_s, f"submission {submission_id} finishes", 0.2)
        return result

    def wait_running(self, submission_id: str, timeout_s: float = 30) -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            submission = self.get(submission_id)
            return submission if submission["state"] == "running" else None

        result: dict[str, Any] = wait_until(running, timeout_s, f"submission {submission_id} runs")
        return result

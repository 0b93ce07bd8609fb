"""Two real API processes (``gosandbox serve``, distributed mode) draw on one key's bucket in a real Redis."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gosandbox.auth.keys import ApiKey, KeyStore
from gosandbox.jobs.migrate import upgrade
from gosandbox.jobs.store import make_engine
from support.cluster import Process, RedisServer, _answers, wait_until
from support.docker_helpers import TEST_INSTANCE, free_port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_api(tmp_path: Path, name: str, redis_url: str, database_url: str) -> tuple[Process, str]:
    port = free_port()
    env = {**os.environ, "GOSANDBOX_INSTANCE": f"{TEST_INSTANCE}-{name}", "GOSANDBOX_STATE_DIR": str(tmp_path / name),
           "GOSANDBOX_QUEUE_URL": redis_url, "GOSANDBOX_DATABASE_URL": database_url,
           "GOSANDBOX_AUTH": "required"}  # fmt: skip
    node = Process(name, [sys.executable, "-m", "gosandbox.cli.main", "serve", "--port", str(port)], env,
                   tmp_path / f"{name}.log")  # fmt: skip
    node.start()
    return node, f"http://127.0.0.1:{port}"


def test_two_api_nodes_share_one_bucket_through_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    key, _ = KeyStore(engine).create(ApiKey("shared", "", rate_per_s=1 / 3600, burst=4, daily=0))
    nodes = [start_api(tmp_path, name, redis_server.url, database_url) for name in ("api-a", "api-b")]
    try:
        for node, url in nodes:
            wait_until(lambda url=url: _answers(f"{url}/healthz"), 30, f"{node.name} answers")  # type: ignore[misc]
        a, b = (url for _, url in nodes)
        headers = {"Authorization": f"Bearer {key}"}
        # An empty /fmt body is refused (422) after it was counted: cheap, and no worker needed.
        answers = [httpx.post(f"{url}/fmt", headers=headers, timeout=10) for url in (a, b, a, b)]
        assert [r.status_code for r in answers] == [422] * 4, [r.text for r in answers]
        assert [r.headers["ratelimit"].split(";t=")[0] for r in answers] == [f'"burst";r={n}' for n in (3, 2, 1, 0)]
        for url in (a, b):
            refused = httpx.post(f"{url}/fmt", headers=headers, timeout=10)
            assert refused.status_code == 429, refused.text
            assert 3590 <= int(refused.headers["retry-after"]) <= 3600
    finally:
        for node, _ in nodes:
            node.kill()
        engine.dispose()

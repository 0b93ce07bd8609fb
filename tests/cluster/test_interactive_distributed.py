"""Interactive runs in distributed mode: an API node and two worker processes on Redis and PostgreSQL, the real
engine. The client's stdin crosses from the API node to whichever worker runs the job through a Redis list."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gosandbox.jobs.keys import stdin_key
from support.cluster import Cluster, RedisServer, postgres_schema, wait_until
from support.docker_helpers import TEST_INSTANCE

pytestmark = pytest.mark.docker

#: Answers two lines one at a time, then everything up to EOF.
DIALOGUE = """package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

func main() {
	in := bufio.NewReader(os.Stdin)
	for _, question := range []string{"name? ", "colour? "} {
		fmt.Print(question)
		answer, _ := in.ReadString('\\n')
		fmt.Printf("got %s", answer)
	}
	rest, _ := io.ReadAll(in)
	fmt.Printf("then %q\\n", rest)
}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("interactive-cluster")
    redis_server = RedisServer(directory)
    redis_server.start()
    with postgres_schema(f"interactive_{TEST_INSTANCE.replace('-', '_')}") as database_url:
        cluster = Cluster(directory, database_url, redis_server, concurrency=1)
        try:
            cluster.start(["w1", "w2"])
            yield cluster
        finally:
            cluster.close()
            redis_server.stop()


def _until(ws: ClientConnection, wanted: str) -> None:
    seen = ""
    while wanted not in seen:
        message = json.loads(ws.recv(timeout=120))
        assert message.get("type") != "error", message
        if message.get("event") == "stdout":
            seen += message["data"]["text"]


def _dialogue(url: str, name: str, results: dict[str, dict[str, Any]]) -> None:
    with connect(url.replace("http://", "ws://") + "/runs/interactive", open_timeout=30, legacy=True) as ws:
        ws.send(json.dumps({"type": "start", "run": {"code": DIALOGUE, "limits": {"wall_s": 20}}}))
        _until(ws, "name? ")
        ws.send(json.dumps({"type": "stdin", "data": f"{name}\n"}))
        _until(ws, "colour? ")
        for part in ("blue\n", "one ", "two"):  # in the order sent, across the list
            ws.send(json.dumps({"type": "stdin", "data": part}))
        ws.send(json.dumps({"type": "eof"}))
        last: dict[str, Any] = {}
        try:
            while True:
                last = json.loads(ws.recv(timeout=60))
        except ConnectionClosed:
            pass
        assert ws.close_code == 1000
        results[name] = last["data"]


def test_two_dialogues_at_once_each_on_a_worker(cluster: Cluster) -> None:
    results: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=_dialogue, args=(cluster.url, name, results)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert sorted(results) == ["ann", "bob"]
    for name, submission in results.items():
        assert submission["result"]["stdout"] == f'name? got {name}\ncolour? got blue\nthen "one two"\n'
        stored = httpx.get(f"{cluster.url}/submissions/{submission['id']}", timeout=10).json()
        assert stored["state"] == "done"
    workers = {cluster.worker_of(submission) for submission in results.values()}
    assert workers == {"w1", "w2"}  # one slot each: the two ran at once, one on each worker
    client = redis.Redis.from_url(cluster.redis.url)
    wait_until(lambda: not any(client.exists(stdin_key(s["id"])) for s in results.values()), 10,
               "the stdin lists are gone")  # fmt: skip

"""Fairness between API keys across workers: an API node, two real worker processes of one slot, Redis, PostgreSQL.

Key A queues sleepers before key B's one hello world; the workers take jobs in the queue's order but
refuse to start one of A's while A is at its cap (one: half of the two slots) and B waits, so B's job
starts when the first of A's running jobs ends, not after all of A's. And the shared bookkeeping in
Redis cannot keep a slot forever: a running entry whose worker stopped renewing it expires.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from gosandbox.auth.keys import ApiKey, KeyStore
from gosandbox.jobs.keys import FAIR_RUNNING, FAIR_WAITING
from gosandbox.jobs.redis_fairness import RedisFairness, tenant_in
from gosandbox.jobs.store import make_engine
from support.cluster import Cluster, RedisServer, postgres_schema, wait_until
from support.docker_helpers import TEST_INSTANCE

pytestmark = pytest.mark.docker

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from bob") }\n'
SLEEPER = 'package main\n\nimport "time"\n\nfunc main() { time.Sleep(2 * time.Second) }\n'


@dataclass
class Keys:
    url: str
    redis_url: str
    ann: str
    bob: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    directory = tmp_path_factory.mktemp("fairness")
    redis_server = RedisServer(directory)
    redis_server.start()
    schema = f"fairness_{TEST_INSTANCE.replace('-', '_')}"
    with pytest.MonkeyPatch.context() as env, postgres_schema(schema) as database_url:
        env.setenv("GOSANDBOX_AUTH", "required")
        cluster = Cluster(directory, database_url, redis_server, concurrency=1)
        try:
            cluster.start(["w1", "w2"])
            store = KeyStore(make_engine(database_url))
            ann = store.create(ApiKey("ann", "", 100.0, 1000, 0))[0]
            bob = store.create(ApiKey("bob", "", 100.0, 1000, 0))[0]
            store.engine.dispose()
            yield Keys(cluster.url, redis_server.url, ann, bob)
        finally:
            cluster.close()
            redis_server.stop()


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=90, trust_env=False, headers={"Authorization": f"Bearer {key}"})


def test_one_keys_queue_does_not_starve_another_keys_job_across_workers(keys: Keys) -> None:
    with client(keys.url, keys.ann) as ann, client(keys.url, keys.bob) as bob:
        # Each worker builds once first, so that every job below is as long as its sleep.
        for who in (ann, bob):
            assert who.post("/run", json={"code": HELLO}).status_code == 200
        ids = [ann.post("/submissions", json={"code": SLEEPER}).json()["id"] for _ in range(6)]
        wait_until(lambda: [ann.get(f"/submissions/{i}").json()["state"] for i in ids[:2]] == ["running"] * 2,
                   60, "A's first two jobs run on the two workers")  # fmt: skip
        answer = bob.post("/submissions?wait=60", json={"code": HELLO}).json()
        assert answer["result"]["stdout"] == "hello from bob\n", answer
        starts = {i: ann.get(f"/submissions/{i}").json()["started_at"] for i in ids}
        for submission_id in ids:
            ann.delete(f"/submissions/{submission_id}")
    started_before_bob = [i for i in ids if starts[i] is not None and starts[i] < answer["started_at"]]
    # Before fairness: all six of A's (first come, first served). Now A's two first, and at most one more:
    # the slot A's second job frees as B's job waits its turn may go to A (A then runs none, under its cap).
    assert len(started_before_bob) <= 3, (starts, answer["started_at"])


def test_a_running_entry_that_is_not_renewed_expires(keys: Keys) -> None:
    """A worker killed mid-job renews nothing: its job stops counting against its key once the lease ends."""
    client_ = redis.Redis.from_url(keys.redis_url)
    fairness = RedisFairness(client_, lease_s=0.5)
    lost, waiting = "a" * 32, "b" * 32
    fairness.queued(lost, "carl")
    assert fairness.admit(lost, "carl", cap=1)  # "carl" now runs one: at his cap
    fairness.queued(waiting, "carl")
    fairness.queued("c" * 32, "dora")
    assert not fairness.admit(waiting, "carl", cap=1)  # dora waits below her cap: carl's second must wait
    time.sleep(0.6)  # nobody renews the lease of carl's first: its worker is gone
    assert fairness.admit(waiting, "carl", cap=1)
    assert client_.zscore(FAIR_RUNNING, f"{lost}:carl") is None  # pruned, not just outvoted
    for submission_id, tenant in ((waiting, "carl"), ("c" * 32, "dora")):
        fairness.forget(submission_id, tenant)
    entries = client_.zrange(FAIR_RUNNING, 0, -1) + client_.zrange(FAIR_WAITING, 0, -1)
    assert not [e for e in entries if tenant_in(e) in ("carl", "dora")]

"""Ownership and metered reads in distributed mode: two API nodes, a worker, Redis, PostgreSQL, two real keys.

What A stores through one node is A's on every node: B gets 404 for it on the other one, B's use of
A's Idempotency-Key makes B's own submission, and A replays it anywhere. A key's answers are drawn
from its one bucket in Redis: a key that read past its bucket on one node is refused on the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from gosandbox.auth.keys import ApiKey, KeyStore
from gosandbox.jobs.store import make_engine
from support.cluster import Cluster, RedisServer, postgres_schema
from support.docker_helpers import TEST_INSTANCE

pytestmark = pytest.mark.docker

SECRET = (
    'package main\n\nimport (\n\t"fmt"\n\t"io"\n\t"os"\n)\n\n'
    'func main() { in, _ := io.ReadAll(os.Stdin); fmt.Printf("ann read %s\\n", in) }\n'
)
#: 1 000 000 bytes of output: about one rate-limit unit per read of it.
MEGABYTE = (
    'package main\n\nimport (\n\t"bytes"\n\t"os"\n)\n\n'
    'func main() { os.Stdout.Write(bytes.Repeat([]byte("x"), 1000000)) }\n'
)


@dataclass
class Nodes:
    one: str
    two: str
    ann: str
    bob: str


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    directory = tmp_path_factory.mktemp("tenancy")
    redis_server = RedisServer(directory)
    redis_server.start()
    schema = f"tenancy_{TEST_INSTANCE.replace('-', '_')}"
    with pytest.MonkeyPatch.context() as env, postgres_schema(schema) as database_url:
        env.setenv("GOSANDBOX_AUTH", "required")
        cluster = Cluster(directory, database_url, redis_server)
        try:
            cluster.start(["w1"])
            second = cluster.add_api("api2")
            keys = KeyStore(make_engine(database_url))
            ann = keys.create(ApiKey("ann", "", 100.0, 1000, 0))[0]
            bob = keys.create(ApiKey("bob", "", 1 / 3600, 5, 0))[0]
            keys.engine.dispose()
            yield Nodes(cluster.url, second, ann, bob)
        finally:
            cluster.close()
            redis_server.stop()


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=90, trust_env=False, headers={"Authorization": f"Bearer {key}"})


def test_a_keys_submission_is_404_to_another_key_on_every_node(nodes: Nodes) -> None:
    body = {"code": SECRET, "stdin": "the secret"}
    with client(nodes.one, nodes.ann) as ann_one, client(nodes.two, nodes.ann) as ann_two, \
            client(nodes.two, nodes.bob) as bob_two:  # fmt: skip
        first = ann_one.post("/submissions?wait=60", json=body, headers={"Idempotency-Key": "k"}).json()
        assert first["result"]["stdout"] == "ann read the secret\n", first
        submission_id, token = first["id"], str(uuid.UUID(hex=first["id"]))
        path = f"/submissions/{submission_id}"
        for refused in (bob_two.get(path), bob_two.get(f"{path}/events"), bob_two.delete(path),
                        bob_two.get(f"/judge0/submissions/{token}", params={"fields": "source_code,stdin"}),
                        bob_two.delete(f"/judge0/submissions/{token}")):  # fmt: skip
            assert refused.status_code == 404, refused.text
            assert "the secret" not in refused.text
        assert bob_two.get("/submissions", params={"ids": submission_id}).json() == {"submissions": []}
        own = bob_two.post("/submissions", json=body, headers={"Idempotency-Key": "k"})
        assert own.status_code == 201, own.text
        assert own.json()["id"] != submission_id
        replay = ann_two.post("/submissions", json=body, headers={"Idempotency-Key": "k"})
        assert (replay.status_code, replay.json()["id"]) == (200, submission_id)
        assert ann_two.get(path).json()["result"]["stdout"] == "ann read the secret\n"


def test_a_key_that_read_past_its_bucket_on_one_node_is_refused_on_the_other(nodes: Nodes) -> None:
    with client(nodes.one, nodes.bob) as bob_one, client(nodes.two, nodes.bob) as bob_two, \
            client(nodes.two, nodes.ann) as ann_two:  # fmt: skip
        made = bob_one.post("/submissions?wait=60", json={"code": MEGABYTE, "limits": {"output_bytes": 1048576}})
        assert made.json()["state"] == "done", made.text
        path = f"/submissions/{made.json()['id']}"
        statuses = [bob_one.get(path).status_code for _ in range(8)]
        assert statuses[0] == 200
        assert 429 in statuses, statuses  # 5 units, about one per read
        refused = bob_two.get(path)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 60
        assert ann_two.get("/judge0/about").status_code == 200

"""Jobs through Redis, with real processes: one API node, two workers, PostgreSQL, the real engine.

Each failure case of the issue is done for real: a worker killed with SIGKILL mid-run, a
worker sent SIGTERM, Redis stopped and started again with its memory gone.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gosandbox.backends.docker.backend import connect
from gosandbox.backends.docker.reaper import list_sandboxes
from support.cluster import Api, Cluster, RedisServer, postgres_schema, wait_until
from support.docker_helpers import ALT, TEST_INSTANCE, program_processes

pytestmark = pytest.mark.docker

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'
BROKEN = "package main\n\nfunc main() { undefined() }\n"
LOOP = "package main\n\nfunc main() { for {} }\n"
HOG = (Path(__file__).parents[2] / "examples" / "memory.go").read_text()
PRINT_SLEEP_PRINT = (
    'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\n'
    'func main() {\n\tfmt.Println("first")\n\ttime.Sleep(time.Second)\n\tfmt.Println("second")\n}\n'
)
CALC = {
    "go.mod": "module example.com/calc\n\ngo 1.27\n",
    "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
    "calc_test.go": (
        'package calc\n\nimport "testing"\n\n'
        'func TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n'
    ),
}


def sleeper(seconds: float) -> str:
    return (f'package main\n\nimport (\n\t"fmt"\n\t"time"\n)\n\nfunc main() {{\n\t'
            f'time.Sleep({int(seconds * 1000)} * time.Millisecond)\n\tfmt.Println("slept")\n}}\n')  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    redis_server = RedisServer(directory)
    redis_server.start()
    with postgres_schema(f"cluster_{TEST_INSTANCE.replace('-', '_')}") as database_url:
        cluster = Cluster(directory, database_url, redis_server)
        try:
            cluster.start(["w1", "w2"])
            yield cluster
        finally:
            cluster.close()
            redis_server.stop()


@pytest.fixture
def api(cluster: Cluster) -> Iterator[Api]:
    wait_until(lambda: cluster.ready_workers() >= 2, 60, "both workers serve")
    client = Api(cluster.url)
    yield client
    client.client.close()


def stored_results(api: Api, submission_id: str) -> int:
    """How many result events the finished job stored (exactly one: it finished once)."""
    events = api.client.get(f"/submissions/{submission_id}/events").text
    return sum(line == "event: result" for line in events.splitlines())


def test_fifty_mixed_submissions_each_finish_once_with_the_right_verdict(api: Api, cluster: Cluster) -> None:
    kinds = {
        "ok": {"code": HELLO},
        "passed": {"kind": "test", "files": CALC},
        "compile_error": {"code": BROKEN},
        "timeout": {"code": LOOP, "limits": {"wall_s": 1}},
        "memory_limit": {"code": HOG, "limits": {"memory_mb": 32, "wall_s": 10}},
    }
    bodies = [(expected, body) for expected, body in kinds.items() for _ in range(10)]
    response = api.client.post("/submissions/batch", json={"submissions": [b for _, b in bodies]})
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert len(ids) == 50

    def all_finished() -> list[dict[str, Any]] | None:
        listing = api.client.get("/submissions", params={"ids": ",".join(ids)}).json()["submissions"]
        return listing if all(s["state"] == "done" for s in listing) else None

    finished = wait_until(all_finished, 300, "all 50 jobs finish", every_s=1.0)
    for (expected, _), submission in zip(bodies, finished, strict=True):
        result = submission["result"]
        verdict = "passed" if submission["kind"] == "test" and result["passed"] else result["status"]
        assert verdict == expected, (submission["id"], result)
        assert submission["attempts"] == 1
    assert {cluster.worker_of(s) for s in finished} == {"w1", "w2"}, "both workers take jobs"
    assert all(stored_results(api, i) == 1 for i in ids[::7])


def test_events_reach_another_api_node_while_the_program_runs_on_a_worker(api: Api, cluster: Cluster) -> None:
    other_node = cluster.add_api("api2")
    submission = api.submit({"code": PRINT_SLEEP_PRINT})
    arrivals: dict[str, float] = {}
    with httpx.stream("GET", f"{other_node}/submissions/{submission['id']}/events", timeout=60) as stream:
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name == "stdout":
                text = json.loads(line[5:])["text"]
                for word in ("first", "second"):
                    if word in text:
                        arrivals.setdefault(word, time.monotonic())
            elif line.startswith("data:") and name == "result":
                break
    assert set(arrivals) == {"first", "second"}
    # The program sleeps 1 s between its lines: the first must arrive before the second is written.
    assert arrivals["second"] - arrivals["first"] > 0.7, arrivals


def test_cancel_of_a_running_job_kills_its_sandbox_within_a_second(api: Api, cluster: Cluster) -> None:
    submission = api.submit({"code": LOOP, "limits": {"wall_s": 30}})
    running = api.wait_running(submission["id"])
    instance = cluster.instance(cluster.worker_of(running))
    wait_until(lambda: program_processes(instance), 15, "the loop runs")
    cancelled_at = time.monotonic()
    assert api.client.delete(f"/submissions/{submission['id']}").json()["state"] == "cancelled"
    wait_until(lambda: not program_processes(instance), 5, "the program is gone", every_s=0.05)
    assert time.monotonic() - cancelled_at < 1.5
    assert api.client.delete(f"/submissions/{submission['id']}").status_code == 409


def test_a_cancelled_queued_job_never_runs(api: Api, cluster: Cluster) -> None:
    busy = [api.submit({"code": sleeper(4), "limits": {"wall_s": 10}}) for _ in range(4)]  # every slot
    for job in busy:
        api.wait_running(job["id"])
    queued = api.submit({"code": HELLO})
    assert api.client.delete(f"/submissions/{queued['id']}").json()["state"] == "cancelled"
    for job in busy:
        assert api.wait_finished(job["id"], 60)["state"] == "done"
    time.sleep(1)
    final = api.get(queued["id"])
    assert (final["state"], final["attempts"], final["started_at"]) == ("cancelled", 0, None)


def _kill_its_worker(api: Api, cluster: Cluster, submission_id: str) -> str:
    name = cluster.worker_of(api.wait_running(submission_id))
    cluster.workers[name].kill()
    return name


def test_a_worker_killed_mid_run_loses_no_job(api: Api, cluster: Cluster) -> None:
    submission = api.submit({"code": sleeper(3), "limits": {"wall_s": 20}})
    killed = _kill_its_worker(api, cluster, submission["id"])
    killed_at = time.monotonic()
    final = api.wait_finished(submission["id"], 60)
    assert time.monotonic() - killed_at < 60
    assert (final["state"], final["attempts"], final["result"]["stdout"]) == ("done", 2, "slept\n")
    assert cluster.worker_of(final) != killed
    assert stored_results(api, submission["id"]) == 1
    cluster.restart_worker(killed)  # it reaps what its killed predecessor left
    wait_until(lambda: len(list_sandboxes(connect(), cluster.instance(killed))) <= 3, 30, "old sandboxes reaped")
    assert not program_processes(cluster.instance(killed))


def test_a_job_that_loses_its_worker_twice_fails_with_worker_lost(api: Api, cluster: Cluster) -> None:
    submission = api.submit({"code": sleeper(20), "limits": {"wall_s": 30}})
    first = _kill_its_worker(api, cluster, submission["id"])
    wait_until(lambda: api.get(submission["id"])["attempts"] == 2, 60, "the job runs again")
    second = _kill_its_worker(api, cluster, submission["id"])
    for name in {first, second}:
        cluster.restart_worker(name)
    final = api.wait_finished(submission["id"], 60)
    assert final["state"] == "failed"
    assert "worker lost" in final["error"]["detail"]
    assert final["error"]["status"] == 503


def test_sigterm_lets_a_worker_finish_its_job_and_exit_cleanly(api: Api, cluster: Cluster) -> None:
    submission = api.submit({"code": sleeper(3), "limits": {"wall_s": 20}})
    name = cluster.worker_of(api.wait_running(submission["id"]))
    worker = cluster.workers[name]
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    final = api.get(submission["id"])
    assert (final["state"], final["result"]["stdout"], final["attempts"]) == ("done", "slept\n", 1)
    assert list_sandboxes(connect(), cluster.instance(name)) == []
    worker.start()


def test_a_second_sigterm_stops_a_worker_now_and_its_job_runs_elsewhere(api: Api, cluster: Cluster) -> None:
    submission = api.submit({"code": sleeper(20), "limits": {"wall_s": 30}})
    name = cluster.worker_of(api.wait_running(submission["id"]))
    worker = cluster.workers[name]
    worker.signal(signal.SIGTERM)
    time.sleep(0.5)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert list_sandboxes(connect(), cluster.instance(name)) == []
    worker.start()
    final = api.wait_finished(submission["id"], 90)
    assert (final["state"], final["result"]["stdout"]) == ("done", "slept\n")


def test_redis_down_means_503_and_everything_recovers_without_restarts(api: Api, cluster: Cluster) -> None:
    busy = [api.submit({"code": sleeper(3), "limits": {"wall_s": 20}}) for _ in range(4)]
    waiting = [api.submit({"code": HELLO}) for _ in range(3)]  # accepted, still in the queue
    for job in busy:
        api.wait_running(job["id"])
    cluster.redis.stop()  # no persistence: the queue's contents are gone for good
    refused = api.client.post("/submissions", json={"code": HELLO})
    assert refused.status_code == 503, refused.text
    assert "Redis" in refused.json()["detail"]
    assert api.client.post("/run", json={"code": HELLO}).status_code == 503
    readiness = api.client.get("/readyz")
    assert readiness.status_code == 503
    assert "Redis" in readiness.json()["detail"]
    cluster.redis.start()
    finished = [api.wait_finished(job["id"], 90) for job in busy + waiting]
    assert Counter(s["state"] for s in finished) == {"done": 7}
    wait_until(lambda: api.client.get("/readyz").status_code == 200, 30, "ready again")
    response = api.client.post("/run", json={"code": HELLO})
    assert response.status_code == 200, response.text
    assert response.json()["stdout"] == "hello\n"


def test_sync_run_through_the_queue_and_a_toolchain_no_worker_has(api: Api) -> None:
    response = api.client.post("/run", json={"code": HELLO})
    assert response.json()["stdout"] == "hello\n"
    assert api.get(response.headers["x-submission-id"])["state"] == "done"
    refused = api.client.post("/submissions", json={"code": HELLO, "go_version": "go1.2"})
    assert refused.status_code == 422
    assert "go1.27" in refused.json()["detail"]


def test_a_job_asking_for_a_toolchain_goes_only_to_a_worker_that_has_it(
    api: Api, cluster: Cluster, alt_toolchain: dict[str, str]
) -> None:
    worker = cluster.add_worker("w3", GOSANDBOX_EXTRA_TOOLCHAINS=f"{ALT}={alt_toolchain[ALT]}")
    worker.start()
    wait_until(lambda: ALT in api.client.get("/version").json()["go_versions"], 60, "w3 offers the toolchain")
    jobs = [api.submit({"code": HELLO, "go_version": ALT}) for _ in range(6)]
    finished = [api.wait_finished(job["id"], 120) for job in jobs]
    assert {(s["state"], s["result"]["go_version"], cluster.worker_of(s)) for s in finished} == {("done", ALT, "w3")}
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0


def test_follow_from_the_command_line(api: Api, cluster: Cluster, tmp_path: Path) -> None:
    program = tmp_path / "slow.go"
    program.write_text(PRINT_SLEEP_PRINT)
    lines: list[tuple[float, str]] = []
    command = [*cluster._command("submit", str(program), "--follow", "--url", cluster.url)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=cluster.env("cli")) as process:
        assert process.stdout is not None
        stdout = process.stdout
        reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line.decode()) for line in stdout))
        reader.start()
        assert process.wait(60) == 0
        reader.join()
    assert [text for _, text in lines] == ["first\n", "second\n"]
    assert lines[1][0] - lines[0][0] > 0.7

"""Metrics and JSON logs of real processes on the real engine: one ``gosandbox serve`` for the module
(``GOSANDBOX_LOG_FORMAT=json``, killed once and started again so that its reaper has work), and a
distributed pair (an API node, a worker with ``--metrics-port``) on real Redis and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gosandbox.backends.docker.backend import connect
from support.cluster import Api, Cluster, RedisServer, postgres_schema, wait_until
from support.docker_helpers import TEST_INSTANCE, Server, free_port, serving
from support.metrics_samples import Samples, moved, parse, value

MARKER = f"zq{uuid.uuid4().hex[:10]}"
ECHO = 'package main\n\nimport (\n\t"io"\n\t"os"\n)\n\nfunc main() { io.Copy(os.Stdout, os.Stdin) } // %s\n'
SPIN = "package main\n\nfunc main() {\n\tfor {\n\t}\n} // %s\n"
BROKEN = "package main\n\nfunc main() { %s() }\n"
INSTANCE = f"{TEST_INSTANCE}-metrics"


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return parse(response.text)[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state_dir = tmp_path_factory.mktemp("metrics")
    with serving(state_dir, INSTANCE, {"GOSANDBOX_LOG_FORMAT": "json", "GOSANDBOX_BINARY_CACHE_MB": "0"}) as live:
        live.wait_for_sandboxes(lambda ids: len(ids) >= 2, 20)  # its pool is full
        live.process.send_signal(signal.SIGKILL)  # a crash: the next start finds its sandboxes
        live.process.wait()
        live.start()
        yield live


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def test_runs_latencies_sandboxes_and_routes(server: Server, client: httpx.Client) -> None:
    wait_until(lambda: value(scrape(server.url), "gosandbox_pool_sandboxes_ready") > 0, 20, "the pool refills")
    before = scrape(server.url)
    assert value(before, "gosandbox_sandboxes_reaped_total") >= 2  # the killed process's pool (and builder)
    ok = client.post("/run", json={"code": ECHO % "ok", "stdin": "hello"})
    assert ok.json()["status"] == "ok"
    broken = client.post("/run", json={"code": BROKEN % "nothing"})
    assert broken.json()["status"] == "compile_error"
    timeout = client.post("/run", json={"code": SPIN % "t", "limits": {"wall_s": 0.5}})
    assert timeout.json()["status"] == "timeout"
    submission_id = ok.headers["x-submission-id"]
    assert client.get(f"/submissions/{submission_id}").status_code == 200
    wait_until(lambda: moved(before, scrape(server.url), "gosandbox_sandboxes_removed_total", role="run") >= 2,
               10, "the used sandboxes are removed")  # fmt: skip
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    after = parse(response.text)[0]
    assert moved(before, after, "gosandbox_runs_total", kind="run", status="timeout") == 1
    assert moved(before, after, "gosandbox_runs_total", kind="run", status="ok") == 1
    assert moved(before, after, "gosandbox_runs_total", kind="run", status="compile_error") == 1
    for histogram in ("queue_wait", "compile_duration", "job_duration"):
        assert moved(before, after, f"gosandbox_{histogram}_seconds_count", kind="run") == 3
    assert moved(before, after, "gosandbox_run_duration_seconds_count", kind="run") == 2
    assert moved(before, after, "gosandbox_run_duration_seconds_sum", kind="run") >= 0.5  # the timeout's wall
    assert moved(before, after, "gosandbox_sandboxes_created_total", role="run") >= 2  # the pool refills
    assert value(after, "gosandbox_sandboxes_created_total", role="builder") == 1
    template = "/submissions/{submission_id}"
    assert moved(before, after, "gosandbox_http_requests_total", method="GET", route=template, status="200") == 1
    assert moved(before, after, "gosandbox_http_requests_total", method="POST", route="/run", status="200") == 3
    assert submission_id not in response.text
    assert value(after, "gosandbox_pool_sandboxes_ready") > 0


def test_a_stopped_builder_counts_as_a_restart(server: Server, client: httpx.Client) -> None:
    engine = connect()
    [builder] = engine.api.containers(filters={"label": [f"gosandbox.instance={INSTANCE}", "gosandbox.role=builder"]})
    before = scrape(server.url)
    engine.api.kill(builder["Id"])
    assert client.post("/run", json={"code": ECHO % "again"}).json()["status"] == "ok"
    after = scrape(server.url)
    assert moved(before, after, "gosandbox_builder_restarts_total") == 1
    assert moved(before, after, "gosandbox_sandboxes_created_total", role="builder") == 1


def _lines(server: Server) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.stderr().splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    return lines


def test_json_logs_carry_ids_and_never_the_program(server: Server, client: httpx.Client) -> None:
    ran = client.post("/run", json={"code": ECHO % MARKER, "stdin": MARKER}, headers={"X-Request-ID": "req-run-1"})
    assert ran.json()["stdout"] == MARKER
    assert ran.headers["x-request-id"] == "req-run-1"
    broken = client.post("/run", json={"code": BROKEN % MARKER})
    assert MARKER in broken.json()["compile_output"]
    bad = client.post("/run", json={"code": MARKER, "stdin": MARKER, "limits": {"wall_s": "x" + MARKER}})
    assert bad.status_code == 422
    oversized = client.get("/healthz", headers={"X-Request-ID": "r" * 10_000})
    undecodable = client.get("/healthz", headers=[(b"X-Request-ID", b"\xff\xfe" + MARKER.encode())])
    for response in (oversized, undecodable):
        assert response.status_code == 200
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    wait_until(lambda: any(broken.headers["x-request-id"] == line.get("request_id") for line in _lines(server)), 5,
               "the compile error's lines are written")  # fmt: skip
    lines = _lines(server)
    run_lines = [line for line in lines if line.get("request_id") == "req-run-1"]
    assert any(line.get("submission_id") == ran.headers["x-submission-id"] and line.get("run_id")
               for line in run_lines), run_lines  # fmt: skip
    for response in (bad, oversized, undecodable):
        assert any(line.get("request_id") == response.headers["x-request-id"] for line in lines)  # access lines
    assert not [line for line in lines if MARKER in json.dumps(line)]
    assert MARKER not in server.stderr()


# --- distributed: the worker counts the runs ---------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str]]:
    directory: Path = tmp_path_factory.mktemp("metrics-cluster")
    redis_server = RedisServer(directory)
    redis_server.start()
    with postgres_schema(f"metrics_{TEST_INSTANCE.replace('-', '_')}") as database_url:
        cluster = Cluster(directory, database_url, redis_server, concurrency=1)
        port = free_port()
        try:
            cluster.api.start()
            worker = cluster.add_worker("mw1")
            worker.command += ["--metrics-port", str(port)]
            worker.start()
            wait_until(lambda: cluster.ready_workers() >= 1, 60, "the worker announces itself")
            yield cluster, f"http://127.0.0.1:{port}"
        finally:
            cluster.close()
            redis_server.stop()


def test_a_worker_serves_the_metrics_of_its_runs(cluster: tuple[Cluster, str]) -> None:
    nodes, worker_url = cluster
    api = Api(nodes.url)
    before, api_before = scrape(worker_url), scrape(nodes.url)
    submission = api.submit({"kind": "run", "code": ECHO % "w", "stdin": "x"})
    assert api.wait_finished(submission["id"], 60)["result"]["status"] == "ok"
    after, api_after = scrape(worker_url), scrape(nodes.url)
    assert moved(before, after, "gosandbox_runs_total", kind="run", status="ok") == 1
    assert moved(before, after, "gosandbox_queue_wait_seconds_count", kind="run") == 1
    wait_until(
        lambda: value(scrape(worker_url), "gosandbox_pool_sandboxes_ready") == 1, 20, "the worker's pool refills"
    )
    assert moved(api_before, api_after, "gosandbox_runs_total", kind="run", status="ok") == 0  # not on the API
    assert moved(api_before, api_after, "gosandbox_http_requests_total", method="POST", route="/submissions",
                 status="201") == 1  # fmt: skip
    assert value(api_after, "gosandbox_runs_queued") == 0  # the store's count, read by the API node
    api.client.close()

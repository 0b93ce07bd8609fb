"""Metrics, request ids and JSON log lines in-process, on the FakeBackend (the layers above the backend).

Scrapes are parsed with prometheus_client's own parser; every check is a difference between two
scrapes, since the registry is the process's and other tests run jobs too.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.observe import request_id_of
from gosandbox.jobs.webhooks import Webhooks
from gosandbox.logs import JsonFormatter, log_context
from support.app_helpers import MAIN, make_settings
from support.metrics_samples import Samples, moved, parse, value
from support.webhook_receiver import receiving

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana-dashboard.json"


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)[0]


def build_or_fail(job: BuildJob) -> BuildOutcome:
    broken = any("BROKEN" in text for text in job.files.values())
    if broken:
        return BuildOutcome(succeeded=False, output="main.go:3:1: syntax error", binary=None, duration_s=0.2)
    return BuildOutcome(succeeded=True, output="", binary=b"bin", duration_s=0.3)


def run_or_time_out(job: ExecJob) -> ExecOutcome:
    if job.stdin == b"spin":
        return ExecOutcome(exit_code=None, signal=9, stdout=b"", stderr=b"", duration_s=1.0, timed_out=True)
    return ExecOutcome(exit_code=0, signal=None, stdout=b"hi\n", stderr=b"", duration_s=0.07)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    backend = FakeBackend(build=build_or_fail, execute=run_or_time_out)
    with TestClient(create_app(make_settings(tmp_path, binary_cache_mb=8), backend=backend)) as test_client:
        yield test_client


def test_runs_by_kind_and_verdict_and_their_latencies(client: TestClient) -> None:
    before = scrape(client)
    assert client.post("/run", json={"code": MAIN}).json()["status"] == "ok"
    assert client.post("/run", json={"code": "package main\nBROKEN"}).json()["status"] == "compile_error"
    assert client.post("/run", json={"code": MAIN + "// 2\n", "stdin": "spin"}).json()["status"] == "timeout"
    after = scrape(client)
    for status in ("ok", "compile_error", "timeout"):
        assert moved(before, after, "gosandbox_runs_total", kind="run", status=status) == 1
    assert moved(before, after, "gosandbox_queue_wait_seconds_count", kind="run") == 3
    assert moved(before, after, "gosandbox_job_duration_seconds_count", kind="run") == 3
    assert moved(before, after, "gosandbox_compile_duration_seconds_count", kind="run") == 3
    assert moved(before, after, "gosandbox_compile_duration_seconds_sum", kind="run") == pytest.approx(0.8)
    assert moved(before, after, "gosandbox_run_duration_seconds_count", kind="run") == 2  # not the compile error
    # 0.07 s and 1.0 s: one run in the 0.1 s bucket, both in the 1 s one, the timeout not below 0.5 s.
    assert moved(before, after, "gosandbox_run_duration_seconds_bucket", kind="run", le="0.1") == 1
    assert moved(before, after, "gosandbox_run_duration_seconds_bucket", kind="run", le="0.5") == 1
    assert moved(before, after, "gosandbox_run_duration_seconds_bucket", kind="run", le="1.0") == 2
    assert value(after, "gosandbox_runs_in_flight") == 0
    assert value(after, "gosandbox_runs_queued") == 0


def test_other_kinds_and_the_binary_cache(client: TestClient) -> None:
    before = scrape(client)
    for _ in range(2):
        assert client.post("/run", json={"code": MAIN + "// cached\n"}).json()["status"] == "ok"
    assert client.post("/submissions?wait=10", json={"kind": "vet", "code": MAIN}).json()["state"] == "done"
    after = scrape(client)
    assert moved(before, after, "gosandbox_binary_cache_lookups_total", result="miss") == 1
    assert moved(before, after, "gosandbox_binary_cache_lookups_total", result="hit") == 1
    assert moved(before, after, "gosandbox_compile_duration_seconds_count", kind="run") == 1  # a hit builds nothing
    assert moved(before, after, "gosandbox_runs_total", kind="run", status="ok") == 2
    assert moved(before, after, "gosandbox_runs_total", kind="vet", status="ok") == 1
    assert moved(before, after, "gosandbox_run_duration_seconds_count", kind="vet") == 0  # vet runs no program


def test_in_flight_and_queued_while_jobs_wait(tmp_path: Path) -> None:
    release = threading.Event()

    def held(job: ExecJob) -> ExecOutcome:
        release.wait(10)
        return ExecOutcome(exit_code=0, signal=None, stdout=b"", stderr=b"", duration_s=0.01)

    app = create_app(make_settings(tmp_path, max_concurrent_runs=1), backend=FakeBackend(execute=held))
    with TestClient(app) as client:
        ids = [client.post("/submissions", json={"kind": "run", "code": MAIN}).json()["id"] for _ in range(3)]
        try:
            for _ in range(100):
                samples = scrape(client)
                if value(samples, "gosandbox_runs_in_flight") == 1 and value(samples, "gosandbox_runs_queued") == 2:
                    break
                threading.Event().wait(0.05)
            assert value(samples, "gosandbox_runs_in_flight") == 1
            assert value(samples, "gosandbox_runs_queued") == 2
        finally:
            release.set()
        for submission_id in ids:
            assert client.get(f"/submissions/{submission_id}").status_code == 200
        final = client.post("/submissions?wait=10", json={"kind": "run", "code": MAIN}).json()
        assert final["state"] == "done"
        assert value(scrape(client), "gosandbox_runs_queued") == 0


def test_http_requests_are_labelled_by_route_template(client: TestClient) -> None:
    before = scrape(client)
    submission_id = client.post("/submissions?wait=10", json={"kind": "run", "code": MAIN}).json()["id"]
    assert client.get(f"/submissions/{submission_id}").status_code == 200
    assert client.get(f"/submissions/{'0' * 32}").status_code == 404
    assert client.get(f"/no/such/{submission_id}").status_code == 404
    assert client.put("/run").status_code == 405
    assert client.request("BREW", "/run").status_code == 405
    assert client.post("/mcp", json={}, headers={"Host": "elsewhere.example"}).status_code == 421  # a plain route
    assert client.get("/docs/assets/no-such-file.js").status_code == 404  # a mount
    response = client.get("/metrics")
    after = parse(response.text)[0]
    template = "/submissions/{submission_id}"
    assert moved(before, after, "gosandbox_http_requests_total", method="GET", route=template, status="200") == 1
    assert moved(before, after, "gosandbox_http_requests_total", method="GET", route=template, status="404") == 1
    assert moved(before, after, "gosandbox_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert moved(before, after, "gosandbox_http_requests_total", method="PUT", route="/run", status="405") == 1
    assert moved(before, after, "gosandbox_http_requests_total", method="OTHER", route="/run", status="405") == 1
    assert moved(before, after, "gosandbox_http_requests_total", method="POST", route="/submissions", status="201") == 1
    assert moved(before, after, "gosandbox_http_request_duration_seconds_count", method="GET", route=template) == 2
    assert moved(before, after, "gosandbox_http_requests_total", method="POST", route="/mcp", status="421") == 1
    assert (
        moved(before, after, "gosandbox_http_requests_total", method="GET", route="/docs/assets/{path}", status="404")
        == 1
    )
    assert submission_id not in response.text  # never a raw id in a label


def test_request_ids(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42/a.b"})
    assert given.headers["x-request-id"] == "trace-42/a.b"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    for insane in ("x" * 129, "two words", "tab\there"):
        replaced = client.get("/healthz", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert re.fullmatch(r"[0-9a-f]{32}", request_id_of([(b"x-request-id", b"caf\xc3\xa9")]))  # non-ASCII: fresh
    problem = client.post("/run", content=b"{", headers={"Content-Type": "application/json", "X-Request-ID": "r-1"})
    assert problem.status_code == 422
    assert problem.headers["x-request-id"] == "r-1"  # errors too


def test_a_failing_route_still_answers_with_its_request_id(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), backend=FakeBackend())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        before = scrape(client)
        response = client.get("/boom", headers={"X-Request-ID": "bug-1"})
        assert response.status_code == 500
        assert response.headers["x-request-id"] == "bug-1"
        after = scrape(client)
    assert moved(before, after, "gosandbox_http_requests_total", method="GET", route="/boom", status="500") == 1


def test_webhook_deliveries_by_outcome(tmp_path: Path) -> None:
    recorded: list[dict[str, Any]] = []
    app = create_app(make_settings(tmp_path), backend=FakeBackend())
    with receiving([204]) as receiver, TestClient(app) as client:
        webhooks = Webhooks(frozenset({receiver.host}), "secret", lambda _, outcome: recorded.append(outcome))
        before = scrape(client)
        webhooks.send("s1", receiver.url, {"id": "s1"})
        webhooks.send("s2", "http://elsewhere.example/hook", {"id": "s2"})
        webhooks.close()
        after = scrape(client)
    assert [outcome["delivered"] for outcome in recorded] == [False, True]  # the refusal is recorded at once
    assert moved(before, after, "gosandbox_webhook_deliveries_total", outcome="delivered") == 1
    assert moved(before, after, "gosandbox_webhook_deliveries_total", outcome="refused") == 1
    assert moved(before, after, "gosandbox_webhook_deliveries_total", outcome="failed") == 0


def _expressions(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, item in node.items():
            if key in ("expr", "query") and isinstance(item, str):
                yield item
            else:
                yield from _expressions(item)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item)


def test_the_dashboard_uses_only_metrics_that_exist(client: TestClient) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = list(_expressions(dashboard))
    assert len(expressions) >= 12
    _, names = parse(client.get("/metrics").text)
    used = {name for expr in expressions for name in re.findall(r"\bgosandbox_[a-z_]+", expr)}
    assert used, "the dashboard names no gosandbox metric"
    assert used <= names, f"not in a scrape: {sorted(used - names)}"
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert len(families) >= 15  # every metric docs/operating.md lists has a panel


# --- JSON log lines ----------------------------------------------------------------------


def _line(message: str, *args: object) -> dict[str, Any]:
    record = logging.LogRecord("gosandbox.test", logging.WARNING, __file__, 1, message, args, None)
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert text.isascii()
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_a_json_line_has_its_fields_and_the_ids_that_apply() -> None:
    plain = _line("hello %s", "world")
    assert plain["message"] == "hello world"
    assert (plain["level"], plain["logger"]) == ("WARNING", "gosandbox.test")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", plain["time"])
    assert not {"request_id", "submission_id", "run_id"} & set(plain)
    with log_context(request_id="r1", submission_id="s1"), log_context(run_id="u1"):
        inside = _line("x")
    assert (inside["request_id"], inside["submission_id"], inside["run_id"]) == ("r1", "s1", "u1")
    assert "request_id" not in _line("after")


def test_hostile_values_never_break_a_line() -> None:
    undecodable = b"\xff\xfe\x00\n\r\x1b[31m".decode("utf-8", "surrogateescape")
    odd = _line("header %s", undecodable)
    assert odd["message"].startswith("header ")
    huge = _line("value %s", "v" * 100_000)
    assert len(huge["message"]) < 5000
    assert huge["message"].endswith("more characters]")
    wrong = _line("two %s %s", "only one")  # a bad call logs its template instead of losing the line
    assert wrong["message"] == "two %s %s"

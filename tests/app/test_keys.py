"""API keys in-process: the CLI, hashed storage, and the app with GOSANDBOX_AUTH=required on the FakeBackend."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from gosandbox.app import create_app
from gosandbox.auth import middleware
from gosandbox.auth.keys import ApiKey, KeyStore, parse_rate, show_rate
from gosandbox.auth.ratelimit import seconds_to_utc_midnight
from gosandbox.backends.fake import FakeBackend
from gosandbox.cli.main import main
from gosandbox.errors import InvalidRequest
from gosandbox.jobs.submission import KEYLESS
from gosandbox.jobs.tables import ApiKeyRow, ShareRow, SubmissionRow
from gosandbox.wiring import open_store
from support.app_helpers import MAIN, PROBLEM, make_settings

FMT = {"code": "package main\n"}
RUN = {"code": MAIN}


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["type"], body["status"]) == (PROBLEM + slug, status)
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def refusals(name: str) -> float:
    return REGISTRY.get_sample_value("gosandbox_rate_limit_refusals_total", {"key": name}) or 0.0


def params(header: str) -> dict[str, dict[str, int]]:
    """``"burst";r=2;t=3600, "daily";r=9;t=100`` → {"burst": {"r": 2, "t": 3600}, "daily": {...}}."""
    parsed = {}
    for item in header.split(", "):
        name, *pairs = item.split(";")
        parsed[name.strip('"')] = {k: int(v) for k, v in (pair.split("=") for pair in pairs)}
    return parsed


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(open_store(make_settings(tmp_path)).engine)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(tmp_path: Path, store: KeyStore, backend: FakeBackend) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, auth="required"), backend=backend)) as test_client:
        yield test_client


def make_key(store: KeyStore, name: str, **limits: Any) -> str:
    values: dict[str, Any] = {"rate_per_s": 100.0, "burst": 100, "daily": 0, **limits}
    return store.create(ApiKey(name, "", **values))[0]


# --- the keys themselves ------------------------------------------------------------------------


def test_rates_parse_in_seconds_minutes_hours() -> None:
    assert [parse_rate(r) for r in ("5/s", "30/m", "7200/h", "0.5/s")] == [5.0, 0.5, 2.0, 0.5]
    assert [show_rate(r) for r in (5.0, 0.5, 1 / 3600)] == ["5/s", "30/m", "1/h"]
    for bad in ("5", "5/d", "0/s", "-1/s", "x/s"):
        with pytest.raises(InvalidRequest):
            parse_rate(bad)


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    runner, env = CliRunner(), {"GOSANDBOX_STATE_DIR": str(tmp_path)}
    made = runner.invoke(main, ["keys", "create", "--name", "alice", "--rate", "2/m", "--burst", "3", "--daily",
                                "50", "--max-wall-s", "2", "--max-memory-mb", "64"], env=env)  # fmt: skip
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert re.fullmatch(r"gsk_[A-Za-z0-9_-]{43}", key)
    assert "shown once" in made.stderr
    listed = runner.invoke(main, ["keys", "list"], env=env)
    assert listed.exit_code == 0
    assert key not in listed.output
    assert f"alice\t{key[:12]}…\trate 2/m, burst 3, daily 50\twall 2 s, memory 64 MiB" in listed.output
    assert listed.output.rstrip().endswith("live")
    assert runner.invoke(main, ["keys", "revoke", "alice"], env=env).output == "revoked alice\n"
    assert "\trevoked " in runner.invoke(main, ["keys", "list"], env=env).output
    assert runner.invoke(main, ["keys", "revoke", "alice"], env=env).exit_code == 1  # nothing live left
    again = runner.invoke(main, ["keys", "create", "--name", "alice"], env=env)  # names are never reused
    assert again.exit_code == 2
    assert "never reused" in again.stderr
    assert runner.invoke(main, ["keys", "create", "--name", "bob", "--rate", "fast"], env=env).exit_code == 2


def test_the_database_holds_the_keys_hash_never_the_key(tmp_path: Path, store: KeyStore) -> None:
    key = make_key(store, "carol")
    with store.engine.connect() as connection:
        row = connection.execute(select(ApiKeyRow.__table__)).one()._mapping
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in [str(value) for value in row.values()]
    store.engine.dispose()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("gosandbox.db*"))
    assert key.encode() not in raw
    assert key[12:].encode() not in raw  # not even the part past the prefix
    assert row["key_hash"].encode() in raw


# --- authentication -----------------------------------------------------------------------------


def test_without_a_key_the_api_answers_401_but_probes_and_docs_are_public(client: TestClient) -> None:
    refused = client.post("/run", json=RUN)
    assert "API key" in problem(refused, 401, "unauthorized")["detail"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    problem(client.get(f"/submissions/{'0' * 32}"), 401, "unauthorized")
    problem(client.post("/run", json=RUN, headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"}), 401, "unauthorized")
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/docs/assets/swagger-ui.css"):
        assert client.get(path).status_code == 200, path


def test_a_key_opens_the_api_by_bearer_or_x_auth_token(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "dave")
    assert client.post("/run", json=RUN, headers=bearer(key)).json()["status"] == "ok"
    assert client.post("/fmt", json=FMT, headers={"X-Auth-Token": key}).status_code == 200
    assert client.get("/version", headers={"X-Auth-Token": key}).status_code == 200
    unknown = client.post("/run", json=RUN, headers=bearer(key[:-2] + "xx"))
    assert "unknown or revoked" in problem(unknown, 401, "unauthorized")["detail"]
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    problem(client.post("/run", json=RUN, headers=bearer("gsk_" + "a" * 500)), 401, "unauthorized")


def test_a_revoked_key_is_refused_once_the_cache_lets_go(
    tmp_path: Path, store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(middleware, "CACHE_TTL_S", 0.2)
    key = make_key(store, "erin")
    with TestClient(create_app(make_settings(tmp_path, auth="required"), backend=FakeBackend())) as client:
        assert client.post("/fmt", json=FMT, headers=bearer(key)).status_code == 200
        assert store.revoke("erin")
        time.sleep(0.3)
        problem(client.post("/fmt", json=FMT, headers=bearer(key)), 401, "unauthorized")


def test_submissions_record_the_keys_name_not_the_key(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "frank")
    submitted = client.post("/submissions", json={**RUN, "kind": "run"}, headers=bearer(key))
    assert submitted.status_code == 201
    assert submitted.json()["api_key_name"] == "frank"
    got = client.get(f"/submissions/{submitted.json()['id']}", headers=bearer(key)).json()
    assert got["api_key_name"] == "frank"
    with store.engine.connect() as connection:
        names = connection.scalars(select(SubmissionRow.api_key_name)).all()
    assert names == ["frank"]


#: One request per surface that stores jobs: (method path, JSON body, jobs it stores).
SURFACES = {
    "run": ("/run", RUN, 1),
    "submissions/batch": ("/submissions/batch", {"submissions": [RUN, RUN]}, 2),
    "judge0": ("/judge0/submissions?wait=true", {"source_code": MAIN, "language_id": 60}, 1),
    "judge0/batch": ("/judge0/submissions/batch", {"submissions": [{"source_code": MAIN, "language_id": 60}] * 2}, 2),
    "piston": ("/api/v2/execute", {"language": "go", "version": "0.0-fake", "files": [{"content": MAIN}]}, 1),
    "codapi": ("/v1/exec", {"sandbox": "go", "command": "run", "files": {"": MAIN}}, 1),
    "playground": ("/compile", {"Body": MAIN, "WithVet": True}, 2),
}


@pytest.mark.parametrize("surface", SURFACES)
def test_every_surface_stores_its_jobs_as_the_keys(client: TestClient, store: KeyStore, surface: str) -> None:
    """The edges pass the owner into the job service (jobs/ never reads the request's key itself)."""
    path, body, jobs = SURFACES[surface]
    answered = client.post(path, json=body, headers=bearer(make_key(store, "olga")))
    assert answered.status_code in (200, 201), answered.text
    with store.engine.connect() as connection:
        assert connection.scalars(select(SubmissionRow.api_key_name)).all() == ["olga"] * jobs


def test_without_keys_the_jobs_are_the_keyless_tenants(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), backend=FakeBackend())
    with TestClient(app) as client:
        assert client.post("/run", json=RUN).status_code == 200
        submission = app.state.jobs.store.get_many([client.post("/submissions", json=RUN).json()["id"]])[0]
    assert submission.owner == KEYLESS
    with open_store(make_settings(tmp_path)).engine.connect() as connection:
        assert connection.scalars(select(SubmissionRow.api_key_name)).all() == [None, None]


# --- rate, quota, headers -----------------------------------------------------------------------


def test_a_share_records_the_name_of_the_key_that_made_it(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "sara")
    share_id = client.post("/share", content=MAIN, headers=bearer(key)).text
    with store.engine.connect() as connection:
        names = connection.execute(select(ShareRow.id, ShareRow.api_key_name)).all()
    assert [tuple(row) for row in names] == [(share_id, "sara")]
    assert "sara" not in client.get(f"/p/{share_id}.go", headers=bearer(key)).text


def test_the_headers_tell_the_policy_and_the_state(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "gina", rate_per_s=1 / 3600, burst=3, daily=100)
    answered = client.post("/fmt", json=FMT, headers=bearer(key))
    assert answered.status_code == 200
    assert answered.headers["ratelimit-policy"] == '"burst";q=3;w=10800, "daily";q=100;w=86400'
    state = params(answered.headers["ratelimit"])
    assert state["burst"] == {"r": 2, "t": 3600}  # one token of three used; one refills in an hour
    assert state["daily"]["r"] == 99
    assert abs(state["daily"]["t"] - seconds_to_utc_midnight(time.time())) <= 2
    read = client.get("/version", headers=bearer(key))  # a read is not counted, and says so
    assert params(read.headers["ratelimit"])["burst"]["r"] == 2
    assert params(read.headers["ratelimit"])["daily"]["r"] == 99


def test_an_empty_bucket_answers_429_with_retry_after(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "hank", rate_per_s=1 / 3600, burst=3)
    before = refusals("hank")
    assert [client.post("/fmt", json=FMT, headers=bearer(key)).status_code for _ in range(3)] == [200] * 3
    refused = client.post("/fmt", json=FMT, headers=bearer(key))
    assert "rate" in problem(refused, 429, "rate-limited")["detail"]
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600  # one token, at one an hour
    assert params(refused.headers["ratelimit"])["burst"]["r"] == 0
    assert refused.headers["ratelimit-policy"] == '"burst";q=3;w=10800'
    assert refusals("hank") == before + 1
    assert client.post("/fmt", json={}, headers=bearer(key)).status_code == 429  # even a bad body: counted first
    assert client.get("/version", headers=bearer(key)).status_code == 200  # reads go on


def test_a_bucket_refills_at_its_rate(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "iris", rate_per_s=0.4, burst=1)  # 2.5 s per token: room for a slow machine
    assert client.post("/fmt", json=FMT, headers=bearer(key)).status_code == 200
    refused = client.post("/fmt", json=FMT, headers=bearer(key))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] in ("2", "3")  # what is left of 2.5 s, rounded up to whole seconds
    time.sleep(2.6)
    assert client.post("/fmt", json=FMT, headers=bearer(key)).status_code == 200


def test_the_daily_quota_runs_out(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "jack", daily=2, rate_per_s=1 / 3600)
    assert [client.post("/fmt", json=FMT, headers=bearer(key)).status_code for _ in range(2)] == [200, 200]
    refused = client.post("/fmt", json=FMT, headers=bearer(key))
    assert "daily quota of 2" in problem(refused, 429, "rate-limited")["detail"]
    assert abs(int(refused.headers["retry-after"]) - seconds_to_utc_midnight(time.time())) <= 2
    assert params(refused.headers["ratelimit"])["daily"]["r"] == 0
    assert params(refused.headers["ratelimit"])["burst"]["r"] == 98  # the bucket was not touched


def test_a_batch_of_n_counts_n(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "kate", rate_per_s=1 / 3600, burst=3)
    two = {"submissions": [{**RUN, "kind": "run"}, {**RUN, "kind": "vet"}]}
    accepted = client.post("/submissions/batch", json=two, headers=bearer(key))
    assert accepted.status_code == 201, accepted.text
    assert params(accepted.headers["ratelimit"])["burst"]["r"] == 1
    refused = client.post("/submissions/batch", json=two, headers=bearer(key))  # one token left for two jobs
    problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) >= 3590


def test_a_batch_no_bucket_can_ever_hold_is_422_not_a_429_for_ever(client: TestClient, store: KeyStore) -> None:
    key = make_key(store, "kurt", rate_per_s=100.0, burst=3)
    four = {"submissions": [{**RUN, "kind": "run"}] * 4}
    body = problem(client.post("/submissions/batch", json=four, headers=bearer(key)), 422, "above-key-cap")
    assert "at most 3" in body["detail"]
    assert client.post("/submissions/batch", json={"submissions": four["submissions"][:3]}, headers=bearer(key))


def test_a_flood_of_made_up_keys_does_not_push_a_live_key_out_of_the_cache(
    store: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(store, "lena")
    cache = middleware.KeyCache(store)
    monkeypatch.setattr(middleware, "CACHE_ENTRIES", 50)
    lookups: list[str] = []
    find = store.find

    def counted_find(presented: str) -> ApiKey | None:
        lookups.append(presented)
        return find(presented)

    monkeypatch.setattr(store, "find", counted_find)

    async def flood() -> None:
        assert await cache.find(key) is not None
        for n in range(200):
            assert await cache.find(f"gsk_made-up-{n}") is None
        assert await cache.find(key) is not None  # still cached: no lookup for it

    asyncio.run(flood())
    assert lookups.count(key) == 1
    assert len(cache._unknown) == 50
    assert key not in str(vars(cache))  # the cache holds hashes, never a key


# --- the key's caps -----------------------------------------------------------------------------


def test_a_keys_caps_refuse_more_and_lower_the_defaults(
    client: TestClient, store: KeyStore, backend: FakeBackend
) -> None:
    key = make_key(store, "liam", max_wall_s=2.0, max_memory_mb=64)
    too_long = client.post("/run", json={**RUN, "limits": {"wall_s": 3}}, headers=bearer(key))
    assert "max_wall_s=2" in problem(too_long, 422, "above-key-cap")["detail"]
    too_big = client.post("/run", json={**RUN, "limits": {"memory_mb": 128}}, headers=bearer(key))
    assert "max_memory_mb=64" in problem(too_big, 422, "above-key-cap")["detail"]
    assert client.post("/run", json=RUN, headers=bearer(key)).status_code == 200
    limits = backend.executions[-1].limits
    assert (limits.wall_s, limits.memory_mb) == (2.0, 64)  # the server's defaults (5 s, 128 MiB), capped
    assert client.post("/run", json={**RUN, "limits": {"wall_s": 1.5}}, headers=bearer(key)).status_code == 200
    assert backend.executions[-1].limits.wall_s == 1.5
    text = client.post("/run", content=MAIN, headers={**bearer(key), "Content-Type": "text/plain"})
    assert text.status_code == 200
    assert backend.executions[-1].limits.wall_s == 2.0
    over_server = client.post("/run", json={**RUN, "limits": {"pids": 10_000}}, headers=bearer(key))
    problem(over_server, 422, "limit-out-of-range")  # the server's own caps still hold


def test_a_key_with_caps_above_the_servers_gets_the_servers(
    client: TestClient, store: KeyStore, backend: FakeBackend
) -> None:
    key = make_key(store, "mia", max_wall_s=100.0)
    problem(client.post("/run", json={**RUN, "limits": {"wall_s": 31}}, headers=bearer(key)), 422, "limit-out-of-range")
    assert client.post("/run", json={**RUN, "limits": {"wall_s": 30}}, headers=bearer(key)).status_code == 200
    assert math.isclose(backend.executions[-1].limits.wall_s, 30.0)


def test_mcp_calls_need_a_key_and_get_its_caps(tmp_path: Path, store: KeyStore, backend: FakeBackend) -> None:
    """/mcp is mounted inside the app: the same key, the same caps, the same count, the key's name on the job."""
    key = make_key(store, "nora", max_wall_s=2.0, rate_per_s=1 / 3600, burst=10)
    app = create_app(make_settings(tmp_path, auth="required"), backend=backend)
    mcp = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    with TestClient(app, base_url="http://127.0.0.1:8080") as http:  # the MCP transport checks the Host

        def call(arguments: dict[str, Any], headers: dict[str, str]) -> Any:
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "run_go", "arguments": arguments},
            }
            return http.post("/mcp", json=body, headers={**mcp, **headers})

        problem(call(RUN, {}), 401, "unauthorized")
        refused = call({**RUN, "limits": {"wall_s": 3}}, bearer(key))
        assert "max_wall_s=2" in refused.text
        answered = call(RUN, bearer(key))
        assert answered.status_code == 200
        assert params(answered.headers["ratelimit"])["burst"]["r"] == 8  # two calls counted
    assert backend.executions[-1].limits.wall_s == 2.0
    with store.engine.connect() as connection:
        assert connection.scalars(select(SubmissionRow.api_key_name)).all() == ["nora"]

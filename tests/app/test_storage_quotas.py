"""What one API key (or the keyless tenant) may keep in the store: a quota of bytes, and nothing forever.

The findings of issue 24 these close: nothing bounded what one key or a keyless client stored
(900 KB submissions cancelled at once kept their source for the result TTL; shares of distinct
900 KB bodies never expired), and nothing said how much was stored.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.jobs.tables import ShareRow
from support.app_helpers import MAIN, WAIT_S, problem_of
from support.jobs_helpers import wait_until
from support.tenants import tenants

#: About 300 KB of source (a comment): four of them pass a quota of 1 MiB.
BIG = {"code": MAIN + "//" + "x" * 300_000 + "\n"}
BODIES: dict[str, Any] = {"max_body_bytes": 1024 * 1024}
QUOTA: dict[str, Any] = {"storage_quota_mb": 1, **BODIES}


def big_share(index: int) -> bytes:
    return f"package main // {index}\n".encode() + b"x" * 300_000


def test_a_key_past_its_storage_quota_is_refused_and_another_key_is_not(tmp_path: Path) -> None:
    with tenants(tmp_path, **QUOTA) as app:
        ann, bob = app.tenant("ann"), app.tenant("bob")
        statuses = [ann.post("/submissions", json=BIG).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        refused = ann.post("/submissions", json=BIG)
        body = problem_of(refused, 429, "storage-quota-exceeded")
        assert "API key 'ann'" in body["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        problem_of(ann.post("/share", content=big_share(0)), 429, "storage-quota-exceeded")  # shares count too
        problem_of(ann.post("/run", json=BIG), 429, "storage-quota-exceeded")  # and a synchronous run's job
        assert bob.post("/submissions", json=BIG).status_code == 201  # another key's quota is its own


def test_shares_count_against_the_same_quota(tmp_path: Path) -> None:
    with tenants(tmp_path, **QUOTA) as app:
        ann = app.tenant("ann")
        statuses = [ann.post("/share", content=big_share(index)).status_code for index in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert ann.post("/share", content=big_share(0)).status_code == 200  # sharing it again stores nothing new
        problem_of(ann.post("/submissions", json=BIG), 429, "storage-quota-exceeded")


def test_the_keyless_tenant_has_a_quota_too(tmp_path: Path) -> None:
    with tenants(tmp_path, auth="off", **QUOTA) as app:
        statuses = [app.http.post("/submissions", json=BIG).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        assert "the keyless tenant" in app.http.post("/share", content=big_share(1)).json()["detail"]


def test_more_than_the_whole_quota_at_once_is_413(tmp_path: Path) -> None:
    with tenants(tmp_path, auth="off", storage_quota_mb=1, max_body_bytes=2 * 1024 * 1024) as app:
        problem_of(app.http.post("/share", content=b"x" * (1024 * 1024 + 1)), 413, "payload-too-large")


def test_a_cancelled_job_keeps_no_source_past_the_grace(tmp_path: Path) -> None:
    """Its owner still reads it for the grace (cancelled, queued or running); then it is purged, source and all."""
    release = threading.Event()

    def held(job: ExecJob) -> ExecOutcome:
        release.wait(WAIT_S)
        return ExecOutcome(exit_code=0, signal=None, stdout=b"", stderr=b"", duration_s=0.0)

    backend = FakeBackend(execute=held)
    with tenants(tmp_path, backend=backend, cancelled_keep_s=0.5, max_concurrent_runs=1, **BODIES) as app:
        ann = app.tenant("ann")
        running = ann.post("/submissions", json=BIG).json()["id"]
        wait_until(lambda: ann.get(f"/submissions/{running}").json()["state"] == "running")
        queued = ann.post("/submissions", json=BIG).json()["id"]
        done = ann.post("/submissions", json={"code": MAIN}).json()["id"]
        assert ann.delete(f"/submissions/{queued}").json()["state"] == "cancelled"
        assert ann.delete(f"/submissions/{running}").json()["state"] == "cancelled"
        release.set()
        wait_until(lambda: ann.get(f"/submissions/{done}").json()["state"] == "done")
        app.service.sweep()
        assert ann.get(f"/submissions/{queued}").json()["state"] == "cancelled"  # within the grace
        time.sleep(0.6)
        app.service.sweep()
        problem_of(ann.get(f"/submissions/{queued}"), 404, "submission-not-found")
        assert app.ids_of("ann") == [done]  # a finished job stays for the result TTL


class _Clock:
    """``time`` as the share table and the sweep see it: a wall clock the test moves on (no sleeps)."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_shares_expire_and_sharing_again_moves_the_expiry_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr("gosandbox.jobs.shares.time", clock)
    monkeypatch.setattr("gosandbox.jobs.service.time", clock)
    with tenants(tmp_path, auth="off", share_ttl_s=10) as app:
        first = app.http.post("/share", content=b"package main // one\n").text
        second = app.http.post("/share", content=b"package main // two\n").text
        clock.now += 6
        assert app.http.post("/share", content=b"package main // two\n").text == second  # renewed
        clock.now += 6
        problem_of(app.http.get(f"/p/{first}.go"), 404, "share-not-found")  # expired, before any sweep
        assert app.http.get(f"/p/{second}.go").status_code == 200
        app.service.sweep()
        with app.keys.engine.connect() as connection:
            assert list(connection.scalars(select(ShareRow.id))) == [second]


def test_a_share_ttl_of_0_keeps_shares_forever(tmp_path: Path) -> None:
    with tenants(tmp_path, auth="off", share_ttl_s=0) as app:
        app.http.post("/share", content=b"package main\n")
        with app.keys.engine.connect() as connection:
            assert list(connection.scalars(select(ShareRow.expires_at))) == [None]


def test_metrics_show_the_stored_bytes(tmp_path: Path) -> None:
    with tenants(tmp_path, auth="off", **BODIES) as app:
        app.http.post("/submissions?wait=5", json=BIG)
        app.http.post("/share", content=big_share(0))
        assert "gosandbox_stored_bytes" in app.http.get("/metrics").text
        stored = {what: REGISTRY.get_sample_value("gosandbox_stored_bytes", {"what": what}) or 0.0
                  for what in ("submissions", "shares")}  # fmt: skip
    assert stored["submissions"] > 300_000
    assert stored["shares"] == len(big_share(0))

"""Shared by the job tests: where the real PostgreSQL and Redis are, and sample requests.

``make test-deps`` (``scripts/ensure-services.sh``) starts both on 127.0.0.1; the environment
variables below point the tests elsewhere.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, make_url, select, text

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.jobs.dispatch import LocalDispatcher
from gosandbox.jobs.service import JobService
from gosandbox.jobs.store import make_engine
from gosandbox.jobs.submission import JobRequest, Kind
from gosandbox.jobs.tables import SubmissionRow
from gosandbox.source import make_spec
from support.app_helpers import WAIT_S, make_settings

POSTGRES_URL = os.environ.get(
    "GOSANDBOX_TEST_POSTGRES_URL", "postgresql+psycopg://gosandbox:gosandbox@127.0.0.1:5432/gosandbox_test"
)
REDIS_URL_BASE = os.environ.get("GOSANDBOX_TEST_REDIS", "redis://127.0.0.1:6379")

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'


#: This process's own schema in the test database: two test runs at once (two engineers, or a
#: suite and one file) must not drop each other's tables.
POSTGRES_SCHEMA = f"store_test_{os.getpid()}"


def fresh_postgres_engine() -> Engine:
    """An engine on the test database with an empty schema: the store's tables are dropped first.

    Its ``search_path`` is :data:`POSTGRES_SCHEMA`, made on first use and dropped when the process ends.
    """
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={_own_schema()}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))  # a connection left in a transaction: fail, not hang
        connection.execute(text("DROP TABLE IF EXISTS submissions"))
        connection.execute(text("DROP TABLE IF EXISTS api_keys"))
        connection.execute(text("DROP TABLE IF EXISTS shares"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return engine


@functools.cache
def _own_schema() -> str:
    _in_database(f'CREATE SCHEMA IF NOT EXISTS "{POSTGRES_SCHEMA}"')
    atexit.register(_in_database, f'DROP SCHEMA IF EXISTS "{POSTGRES_SCHEMA}" CASCADE')
    return POSTGRES_SCHEMA


def _in_database(statement: str) -> None:
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def sample_request(code: str = HELLO, kind: Kind = Kind.RUN, *, stdin: bytes = b"") -> JobRequest:
    """A valid request of ``kind`` whose only file is ``main.go`` (``make_spec`` adds the go.mod)."""
    return JobRequest(kind, make_spec({"main.go": code}, stdin=stdin))


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S, every: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(every)


@contextmanager
def serve(tmp_path: Path, backend: FakeBackend, **overrides: Any) -> Iterator[TestClient]:
    """The app in embedded mode (SQLite in ``tmp_path``), its lifespan running."""
    with TestClient(create_app(make_settings(tmp_path, **overrides), backend=backend)) as client:
        yield client


def dispatcher_of(client: TestClient) -> LocalDispatcher:
    dispatcher = jobs_of(client).dispatcher
    assert isinstance(dispatcher, LocalDispatcher)
    return dispatcher


def stored_count(client: TestClient) -> int:
    with jobs_of(client).store.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(SubmissionRow)) or 0)


def submit(client: TestClient, body: dict[str, Any], *, wait: float | None = None) -> dict[str, Any]:
    """POST /submissions, checking the 201 answer; the submission."""
    response = client.post("/submissions", json=body, params={} if wait is None else {"wait": wait})
    assert response.status_code == 201, response.text
    submission: dict[str, Any] = response.json()
    assert set(submission) == SUBMISSION_FIELDS
    assert response.headers["location"] == f"/submissions/{submission['id']}"
    return submission


def get(client: TestClient, submission_id: str) -> dict[str, Any]:
    response = client.get(f"/submissions/{submission_id}")
    assert response.status_code == 200, response.text
    submission: dict[str, Any] = response.json()
    return submission


def finished(client: TestClient, submission_id: str) -> dict[str, Any]:
    """The submission once it has ended."""
    wait_until(lambda: get(client, submission_id)["state"] in ("done", "failed", "cancelled"))
    return get(client, submission_id)


def read_events(client: TestClient, submission_id: str, last_event_id: str | None = None) -> list[Sse]:
    """Every event of the stream, which must end by itself."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    with client.stream("GET", f"/submissions/{submission_id}/events", headers=headers) as response:
        if response.status_code == 204:  # nothing after Last-Event-ID, and nothing more will come
            return []
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(response.iter_lines()))


SUBMISSION_FIELDS = {
    "id",
    "kind",
    "state",
    "result",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "attempts",
    "worker",
    "go_version",
    "callback_url",
    "callback",
    "api_key_name",
}


def jobs_of(client: TestClient) -> JobService:
    app = client.app
    assert isinstance(app, FastAPI)
    service: JobService = app.state.jobs
    return service


@dataclass(frozen=True)
class Sse:
    id: str
    event: str
    data: dict[str, Any]


def sse_events(lines: Iterable[str]) -> Iterator[Sse]:
    """Parse a text/event-stream (comments such as keep-alives are skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if fields:
                yield Sse(fields["id"], fields["event"], json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value

"""Shared by the job tests: where the real PostgreSQL and Redis are, and sample requests.

``make setup`` (``scripts/ensure-services.sh``) starts both on 127.0.0.1; the environment
variables below point the tests elsewhere.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, text

from gosandbox.jobs.model import JobRequest, Kind
from gosandbox.jobs.store import make_engine
from gosandbox.source import make_spec

POSTGRES_URL = os.environ.get(
    "GOSANDBOX_TEST_POSTGRES_URL", "postgresql+psycopg://gosandbox:gosandbox@127.0.0.1:5432/gosandbox_test"
)
REDIS_URL_BASE = os.environ.get("GOSANDBOX_TEST_REDIS", "redis://127.0.0.1:6379")

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'


def fresh_postgres_engine() -> Engine:
    """An engine on the test database with an empty schema: the store's tables are dropped first.

    The tables are shared by every test of this run, so tests that use them must not run in parallel.
    """
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))  # a connection left in a transaction: fail, not hang
        connection.execute(text("DROP TABLE IF EXISTS submissions"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return engine


def sample_request(code: str = HELLO, kind: Kind = Kind.RUN, *, stdin: bytes = b"") -> JobRequest:
    """A valid request of ``kind`` whose only file is ``main.go`` (``make_spec`` adds the go.mod)."""
    return JobRequest(kind, make_spec({"main.go": code}, stdin=stdin))

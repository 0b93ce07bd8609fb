"""Shared by the job tests: where the real PostgreSQL and Redis are, and sample requests.

``make test-deps`` (``scripts/ensure-services.sh``) starts both on 127.0.0.1; the environment
variables below point the tests elsewhere.
"""

from __future__ import annotations

import atexit
import functools
import os

from sqlalchemy import Engine, make_url, text

from gosandbox.jobs.model import JobRequest, Kind
from gosandbox.jobs.store import make_engine
from gosandbox.source import make_spec

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

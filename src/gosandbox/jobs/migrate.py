"""Bring the store's schema up to date with Alembic, under a lock so that many nodes may start at once."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError

from gosandbox.errors import StoreUnavailable

logger = logging.getLogger(__name__)
logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing an operator needs

#: pg_advisory_lock key of schema migrations ("gosb" in ASCII).
_PG_LOCK_KEY = 0x676F7362


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("gosandbox.jobs").joinpath("migrations")))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: Engine, connection: Connection) -> Iterator[None]:
    """PostgreSQL: an advisory lock; SQLite: an flock beside the database file."""
    if engine.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Run every migration not yet applied (idempotent)."""
    try:
        with engine.connect() as connection, _migration_lock(engine, connection):
            command.upgrade(_alembic_config(connection), "head")
            connection.commit()
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"cannot migrate the database: {str(exc).splitlines()[0][:200]}") from exc
    logger.info("database schema is current")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - only this check needs it

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

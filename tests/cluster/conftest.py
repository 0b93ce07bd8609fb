"""What the store tests share: an engine on an empty database of each kind, and a store on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from gosandbox.jobs.migrate import upgrade
from gosandbox.jobs.store import Store, make_engine
from support.jobs_helpers import POSTGRES_URL, fresh_postgres_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database of each kind (no tables yet)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/s.db")
    else:
        try:
            engine = fresh_postgres_engine()
        except OperationalError as exc:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} does not answer ({exc}); run scripts/ensure-services.sh")
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    upgrade(engine)
    return Store(engine)

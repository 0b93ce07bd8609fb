"""Two real API keys on one in-process app (GOSANDBOX_AUTH=required), for the tenancy, quota and metering tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from gosandbox.app import create_app
from gosandbox.auth.keys import ApiKey, KeyStore
from gosandbox.backends.fake import FakeBackend
from gosandbox.jobs.service import JobService
from gosandbox.jobs.tables import SubmissionRow
from support.app_helpers import make_settings
from support.responses import AnyResponse

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def make_key(store: KeyStore, name: str, **values: Any) -> str:
    """A live key named ``name`` (generous limits unless given); the key itself."""
    spec: dict[str, Any] = {"rate_per_s": 100.0, "burst": 1000, "daily": 0, **values}
    return store.create(ApiKey(name, "", **spec))[0]


@dataclass
class Tenant:
    """One API key's view of the app: every request carries its key."""

    name: str
    key: str
    http: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **kwargs: Any) -> AnyResponse:
        return self.http.get(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, **kwargs: Any) -> AnyResponse:
        return self.http.post(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> AnyResponse:
        return self.http.delete(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def mcp_run(self, code: str) -> AnyResponse:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "run_go", "arguments": {"code": code}}}  # fmt: skip
        return self.post("/mcp", json=call, headers=MCP_HEADERS)


@dataclass
class Tenants:
    """The app, its key store, and the tenants made on it."""

    app: FastAPI
    http: TestClient
    keys: KeyStore

    def tenant(self, name: str, **values: Any) -> Tenant:
        return Tenant(name, make_key(self.keys, name, **values), self.http)

    @property
    def service(self) -> JobService:
        service: JobService = self.app.state.jobs
        return service

    def ids_of(self, name: str | None) -> list[str]:
        """The ids of the submissions the key ``name`` (None: keyless) owns, oldest first."""
        column = SubmissionRow.api_key_name
        owned = column.is_(None) if name is None else column == name
        with self.keys.engine.connect() as connection:
            query = select(SubmissionRow.id).where(owned).order_by(SubmissionRow.created_at)
            return list(connection.scalars(query))


@contextmanager
def tenants(tmp_path: Path, *, backend: FakeBackend | None = None, **settings: Any) -> Iterator[Tenants]:
    """The app with ``GOSANDBOX_AUTH=required`` (unless ``auth`` is given) on ``backend``, its lifespan running.

    The base URL is a loopback one: the MCP transport checks the ``Host``.
    """
    app = create_app(make_settings(tmp_path, **{"auth": "required", **settings}), backend=backend or FakeBackend())
    with TestClient(app, base_url="http://127.0.0.1:8080") as http:
        yield Tenants(app, http, KeyStore(app.state.jobs.store.engine))

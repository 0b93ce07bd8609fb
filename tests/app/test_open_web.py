"""The default server is closed to pages of other origins: no CORS for them, no foreign ``Host`` (DNS rebinding:
421 on every route), no cross-site write that would run code or store text (403), while curl keeps working and
an origin the operator lists keeps the Playground and Codapi protocols.

Before: ``GOSANDBOX_CORS_ORIGINS=*`` by default, a page on any origin ran code through ``/compile`` and
``/v1/exec`` and read the output, ``text/plain`` POSTs to ``/run`` ran, and a foreign ``Host`` was served by
every route but ``/mcp``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.hosts import SitePolicy
from support.app_helpers import MAIN, make_settings, problem_of

SERVER = "http://127.0.0.1:8080"
FOREIGN = "https://evil.example"
REBOUND = "rebind.evil.example:8210"
CODAPI = {"sandbox": "go", "command": "run", "files": {"": MAIN}}


def default_app(tmp_path: Path, backend: FakeBackend, **overrides: Any) -> TestClient:
    """The app with the default names and CORS origins (the fixtures' "testserver" taken away), reached as a local
    client reaches it."""
    settings = make_settings(tmp_path, **{"public_hosts": "", **overrides})
    return TestClient(create_app(settings, backend=backend), base_url=SERVER)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    with default_app(tmp_path, backend) as test_client:
        yield test_client


def test_the_defaults_are_closed() -> None:
    from gosandbox.settings import Settings  # noqa: PLC0415 - the model's own defaults, not the fixtures'

    fields = Settings.model_fields
    assert (fields["cors_origins"].default, fields["public_hosts"].default) == ("", "")


# --- CORS: no foreign origin reads an answer -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/compile", "/v1/exec", "/fmt", "/share", "/version"])
def test_no_foreign_origin_gets_cors_by_default(client: TestClient, path: str) -> None:
    asked = {
        "Origin": FOREIGN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    preflight = client.options(path, headers=asked)
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-methods" not in preflight.headers
    assert "access-control-allow-origin" not in client.get("/version", headers={"Origin": FOREIGN}).headers


def test_a_listed_origin_keeps_the_playground_and_codapi(tmp_path: Path, backend: FakeBackend) -> None:
    with default_app(tmp_path, backend, cors_origins="https://docs.example") as client:
        headers = {"Origin": "https://docs.example"}
        compiled = client.post("/compile", data={"version": "2", "body": MAIN}, headers=headers)
        executed = client.post("/v1/exec", json=CODAPI, headers=headers)
        other = client.post("/v1/exec", json=CODAPI, headers={"Origin": FOREIGN})
    assert (compiled.status_code, compiled.headers["access-control-allow-origin"]) == (200, "https://docs.example")
    assert (executed.status_code, executed.headers["access-control-allow-origin"]) == (200, "https://docs.example")
    problem_of(other, 403, "cross-site-request")


# --- Host: DNS rebinding gets 421 on every route ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/run", {"code": MAIN}),
        ("GET", f"/submissions/{'0' * 32}", None),
        ("POST", "/compile", {"Body": MAIN}),
        ("POST", "/v1/exec", CODAPI),
        ("POST", "/judge0/submissions?wait=true", {"source_code": MAIN, "language_id": 60}),
        ("POST", "/api/v2/execute", {"language": "go", "version": "*", "files": [{"content": MAIN}]}),
        ("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        ("GET", "/", None),
        ("GET", "/version", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("OPTIONS", "/compile", None),
    ],
)
def test_a_foreign_host_is_421_on_every_route(
    client: TestClient, backend: FakeBackend, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = client.request(method, path, json=body, headers={"Host": REBOUND})
    assert response.status_code == 421, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert backend.builds == []


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "LOCALHOST.", "[::1]:8080", "localhost"])
def test_loopback_names_are_served(client: TestClient, host: str) -> None:
    assert client.get("/version", headers={"Host": host}).status_code == 200


def test_the_probes_answer_whatever_the_host(client: TestClient) -> None:
    assert client.get("/healthz", headers={"Host": "10.0.0.7:8080"}).status_code == 200


@pytest.mark.parametrize(
    ("settings", "host", "served"),
    [
        ({"host": "10.1.2.3"}, "10.1.2.3:8080", True),  # the address listened on
        ({"host": "0.0.0.0"}, "0.0.0.0:8080", False),  # a wildcard names no address a client uses
        ({"host": "0.0.0.0"}, "10.1.2.3:8080", False),
        ({"host": "::"}, "[fd00::1]:8080", False),
        ({"host": "fd00::1"}, "[fd00::1]:8080", True),
        ({"public_hosts": "sandbox.example, go.example"}, "go.example", True),
        ({"public_hosts": "sandbox.example"}, "other.example", False),
        ({"public_hosts": "*"}, REBOUND, True),  # behind a proxy that checks it
    ],
)
def test_the_names_a_server_answers_to(tmp_path: Path, settings: dict[str, Any], host: str, served: bool) -> None:
    policy = SitePolicy.of(make_settings(tmp_path, **{"public_hosts": "", **settings}))
    assert policy.knows(host) is served


def test_mcp_is_checked_by_the_same_layer(client: TestClient) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream"}
    refused = client.post("/mcp", json=ping, headers={**headers, "Host": REBOUND})
    foreign = client.post("/mcp", json=ping, headers={**headers, "Origin": FOREIGN})
    local = client.post("/mcp", json=ping, headers={**headers, "Origin": SERVER})
    problem_of(refused, 421, "misdirected-request")
    problem_of(foreign, 403, "cross-site-request")
    assert local.status_code == 200, local.text


# --- cross-site writes: a page cannot make a keyless server run code -------------------------------------


@pytest.mark.parametrize(
    ("path", "content", "content_type"),
    [
        ("/run", MAIN, "text/plain"),
        ("/compile", f"version=2&body={MAIN}", "application/x-www-form-urlencoded"),
        ("/fmt", f"body={MAIN}", "application/x-www-form-urlencoded"),
        ("/share", MAIN, "text/plain"),
        ("/submissions", MAIN, "text/plain"),
    ],
)
def test_a_simple_cross_site_post_runs_and_stores_nothing(
    client: TestClient, backend: FakeBackend, path: str, content: str, content_type: str
) -> None:
    for headers in ({"Origin": FOREIGN}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "http://localhost:3000"}, {"Sec-Fetch-Site": "same-site"}):  # fmt: skip
        response = client.post(path, content=content, headers={"Content-Type": content_type, **headers})
        problem_of(response, 403, "cross-site-request")
    assert backend.builds == []
    assert client.get("/p/" + "0" * 10 + ".go").status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl
        {"Origin": SERVER, "Sec-Fetch-Site": "same-origin"},  # the playground's own page
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ],
)
def test_curl_and_the_servers_own_pages_still_run(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/run", content=MAIN, headers={"Content-Type": "text/plain", **headers})
    assert response.status_code == 200, response.text


def test_a_page_reached_by_another_loopback_name_is_its_own_origin(client: TestClient) -> None:
    text = {"Content-Type": "text/plain", "Host": "localhost:8080"}
    same = client.post("/run", content=MAIN, headers={**text, "Origin": "http://localhost:8080"})
    other_port = client.post("/run", content=MAIN, headers={**text, "Origin": "http://localhost:8081"})
    assert same.status_code == 200, same.text
    problem_of(other_port, 403, "cross-site-request")

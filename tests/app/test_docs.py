"""/docs and /redoc work offline: every script, style sheet and icon they load is served by the app itself."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import make_settings

#: The smallest believable Swagger UI / ReDoc bundle and style sheet (the real ones are 150 KB to 1.5 MB).
SUBSTANTIAL = 50_000


class References(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [(tag, value) for name, value in attrs if name in ("src", "href") and value]


def references(html: str) -> list[tuple[str, str]]:
    parser = References()
    parser.feed(html)
    return parser.found


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(create_app(make_settings(Path(tmp_path_factory.mktemp("docs"))), backend=FakeBackend()))


@pytest.mark.parametrize(("page", "kinds"), [("/docs", {"script", "link"}), ("/redoc", {"script", "link"})])
def test_the_documentation_loads_nothing_from_elsewhere(client: TestClient, page: str, kinds: set[str]) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text
    assert "https://" not in response.text  # no CDN, no web font
    assert "/openapi.json" in response.text
    found = references(response.text)
    assert {tag for tag, _ in found} == kinds
    for tag, url in found:
        assert url.startswith("/docs/assets/"), f"{page}: <{tag}> loads {url}, not a local path"
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"]
        if url.endswith(".js"):
            assert kind.startswith(("text/javascript", "application/javascript")), (url, kind)
        elif url.endswith(".css"):
            assert kind.startswith("text/css"), (url, kind)
        else:
            assert kind.startswith("image/"), (url, kind)
            continue
        assert len(asset.content) > SUBSTANTIAL, url


def test_the_swagger_ui_page_names_its_bundle_and_style_sheet(client: TestClient) -> None:
    urls = {url for _, url in references(client.get("/docs").text)}
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= urls
    bundle = client.get("/docs/assets/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle
    assert 'PACKAGE_VERSION:"5.' in bundle  # Swagger UI 5 renders OpenAPI 3.1, the version FastAPI writes
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_the_documentation_is_not_in_the_schema_and_unknown_paths_lead_to_it(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
    assert "/docs" in client.get("/no/such/page").json()["detail"]
    assert client.get("/docs/assets/missing.js").status_code == 404

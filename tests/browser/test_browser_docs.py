"""/docs (Swagger UI) and /redoc (ReDoc) render in Debian's Chromium with no network but loopback.

The server is the real app under uvicorn on 127.0.0.1 (the FakeBackend: no program runs). Every
request the pages make is routed through the test: one to any other host is refused and recorded, and
the test asserts there was none; a Content-Security-Policy violation or a console error fails it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import make_settings
from support.browser_helpers import PolicyWatched
from support.inprocess_server import uvicorn_serving

#: Recorded in every page before its own scripts run: the policy violations a page provokes.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(Path(tmp_path_factory.mktemp("docs-browser")))
    with uvicorn_serving(create_app(settings, backend=FakeBackend())) as url:
        yield url


@pytest.fixture
def watched(browser: Browser) -> Iterator[PolicyWatched]:
    page = PolicyWatched(browser)
    yield page
    page.close()


def test_swagger_ui_renders_the_operations_offline(server: str, watched: PolicyWatched) -> None:
    page = watched.page
    page.goto(f"{server}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text=re.compile(r"^/run$"))).to_be_visible()
    assert page.locator(".opblock").count() >= 10
    page.locator(".opblock-summary-path", has_text=re.compile(r"^/healthz$")).click()  # the page's script works
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    assert watched.elsewhere == []
    assert watched.violations() == []
    assert watched.errors == []


def test_redoc_renders_the_title_offline(server: str, watched: PolicyWatched) -> None:
    page = watched.page
    page.goto(f"{server}/redoc")
    expect(page.get_by_role("heading", level=1)).to_contain_text("gosandbox")
    expect(page.get_by_text("/run", exact=True).first).to_be_attached()
    assert watched.elsewhere == []
    # ReDoc always shows its maker's logo from a CDN: the page's policy refuses it, so nothing leaves.
    assert watched.violations() == [f"img-src {REDOC_LOGO}"]
    assert [error for error in watched.errors if REDOC_LOGO not in error] == []

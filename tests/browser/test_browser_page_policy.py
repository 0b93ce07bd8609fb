"""The playground page's Content-Security-Policy as Chromium enforces it, on a stand-in bundle.

Its own script (from /static/) runs; a script or event handler that slipped into the page as HTML
does not; /embed can be framed by a page of another origin, the full page cannot. The page of
"another origin" is fulfilled by Playwright at ``http://localhost:PORT`` and never reaches a server.
"""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import make_settings
from support.browser_helpers import NO_LOCAL_NETWORK_CHECKS, PolicyWatched, chromium
from support.inprocess_server import uvicorn_serving
from support.web_bundle import write_bundle

BUDGET_S = 0.3
INJECTED = """() => {
    document.body.insertAdjacentHTML("beforeend", '<img src="data:," onload="window.pwned = 1">');
    const script = document.createElement("script");
    script.textContent = "window.pwned = 2";
    document.body.append(script);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = Path(tmp_path_factory.mktemp("page-policy"))
    settings = make_settings(state, web_static_dir=write_bundle(state / "static"))
    with uvicorn_serving(create_app(settings, backend=FakeBackend())) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(NO_LOCAL_NETWORK_CHECKS) as launched:
        yield launched


@pytest.fixture
def watched(browser: Browser) -> Iterator[PolicyWatched]:
    page = PolicyWatched(browser)
    yield page
    page.close()


def test_the_pages_own_script_runs_and_injected_ones_do_not(server: str, watched: PolicyWatched) -> None:
    page = watched.page
    page.goto(server)
    expect(page.locator("#playground")).to_have_text("stand-in")  # the bundle's script ran under the policy
    assert watched.violations() == []
    page.evaluate(INJECTED)
    page.wait_for_function("window.__violations.length >= 2")
    assert page.evaluate("window.pwned") is None
    assert sorted(v.split(" ")[0] for v in watched.violations()) == ["script-src-attr", "script-src-elem"]
    assert watched.elsewhere == []


def test_embed_is_framed_by_another_origin_and_the_full_page_is_not(server: str, watched: PolicyWatched) -> None:
    site = server.replace("127.0.0.1", "localhost")  # another origin
    host = f'<!doctype html><iframe name="embed" src="{server}/embed"></iframe><iframe name="full" src="{server}/">'

    def docs_page(route: Route) -> None:
        route.fulfill(body=host, content_type="text/html")

    watched.context.route(f"{site}/docs-page.html", docs_page)
    watched.page.goto(f"{site}/docs-page.html")
    embed = watched.page.frame_locator('iframe[name="embed"]')
    expect(embed.locator("#playground")).to_have_text("stand-in")
    expect(embed.locator("#playground")).to_have_attribute("data-mode", "embed")
    full = watched.page.frame(name="full")
    assert full is not None
    watched.page.wait_for_timeout(300)  # the refused frame has had its time to load
    assert full.locator("#playground").count() == 0


def test_the_page_answers_and_paints_within_the_budget(server: str, browser: Browser) -> None:
    """First render of / within 300 ms on loopback, for what the server does: the page's first bytes, and the
    first paint of a page whose script costs nothing (the real bundle's run time is the front end's part).

    First bytes: the median of twenty well inside the budget, and all but the slowest within it (the suite runs
    beside this test on two cores; one scheduling stall is not the server's). First paint: the median of three
    cold loads, each in a fresh context without request routing (Playwright's routing
    adds its own round trips through this process).
    """
    host, port = server.removeprefix("http://").split(":")
    first_bytes_s = []
    for _ in range(20):
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        started = time.perf_counter()
        connection.request("GET", "/")
        response = connection.getresponse()  # returns once the status line and headers are in
        first_bytes_s.append(time.perf_counter() - started)
        assert response.status == 200
        response.read()
        connection.close()
    shown = [round(s * 1000, 1) for s in sorted(first_bytes_s)]
    assert statistics.median(first_bytes_s) < BUDGET_S / 3, shown
    assert sorted(first_bytes_s)[-2] < BUDGET_S, shown  # one outlier allowed: the suite shares two cores
    painted_ms = sorted(first_paint_ms(browser, server) for _ in range(3))
    assert painted_ms[1] < BUDGET_S * 1000, f"first contentful paints after {painted_ms} ms"


def first_paint_ms(browser: Browser, server: str) -> float:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server)
        expect(page.locator("#playground")).to_have_text("stand-in")
        painted: float = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
        return painted
    finally:
        context.close()

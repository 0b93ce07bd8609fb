"""The @antonz/codapi widget from npm, in Debian's Chromium, against a live server on real Docker.

The page and the widget's files are served by Playwright (``page.route``, no product route serves
test pages) at ``http://docs.example.test``: another origin than the server's ``http://127.0.0.1:PORT``,
so the widget's ``POST /v1/exec`` goes through a CORS preflight, as on a real docs site; the server
lists that origin in ``GOSANDBOX_CORS_ORIGINS``, as its operator would (the default lists none).
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from support.docker_helpers import TEST_INSTANCE, Server, serving

WIDGET = Path(__file__).parents[1] / "js" / "node_modules" / "@antonz" / "codapi" / "dist"
CHROMIUM = "/usr/bin/chromium"
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello from the widget")\n}\n'
BROKEN = "package main\n\nfunc main() {\n\tundefined()\n}\n"


def page_html(server: Server, code: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/codapi/snippet.css">
</head><body><pre><code>{html.escape(code)}</code></pre>
<codapi-snippet sandbox="go" editor="basic"></codapi-snippet>
<codapi-settings url="{server.url}/v1"></codapi-settings>
<script src="/codapi/snippet.js"></script></body></html>"""


SITE = "http://docs.example.test"  # the docs site's origin; fulfilled by Playwright, never reaches a network


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"GOSANDBOX_CORS_ORIGINS": SITE}
    with serving(tmp_path_factory.mktemp("codapi"), f"{TEST_INSTANCE}-codapi", env) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not (WIDGET / "snippet.js").is_file() or shutil.which(CHROMIUM) is None:
        pytest.fail("the widget or chromium is missing: run `make test-deps` (scripts/ensure-node.sh)")
    with sync_playwright() as playwright:
        # The page, fulfilled by Playwright, counts as public to Chromium's Local Network Access checks, which
        # would refuse its calls to a loopback server (a real site calls a server that is not on loopback).
        args = ["--no-sandbox", "--disable-features=LocalNetworkAccessChecks"]
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


def open_page(browser: Browser, server: Server, code: str) -> Page:
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.on("console", lambda message: print("console:", message.text))

    def widget_file(route: Route) -> None:
        name = route.request.url.rsplit("/", 1)[-1]
        route.fulfill(path=WIDGET / name, content_type="text/css" if name.endswith(".css") else "text/javascript")

    site = SITE
    page.route(f"{site}/test-page.html", lambda route: route.fulfill(body=page_html(server, code),
                                                                       content_type="text/html"))  # fmt: skip
    page.route(f"{site}/codapi/*", widget_file)
    page.goto(f"{site}/test-page.html")
    return page


def run_and_read(page: Page) -> str:
    page.get_by_role("button", name="Run").click()
    output = page.locator("codapi-output pre code")
    expect(output).not_to_be_empty()
    expect(page.locator("codapi-status")).not_to_contain_text("Running")
    return output.inner_text()


def test_run_shows_the_output(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, HELLO)
    assert run_and_read(page).strip() == "hello from the widget"
    expect(page.locator("codapi-status")).to_contain_text("Done")
    page.close()


def test_compile_error_shows_the_compiler_message(browser: Browser, server: Server) -> None:
    page = open_page(browser, server, BROKEN)
    shown = run_and_read(page)
    assert "undefined: undefined" in shown, shown
    assert "main.go:4" in shown, shown
    expect(page.locator("codapi-status")).to_contain_text("Failed")
    page.close()

"""A page of another origin, in Debian's Chromium, against the default server: it can neither read what
``/compile`` and ``/v1/exec`` answer nor make the server run code with a "simple" request (a form, text);
against a server whose operator lists that origin in ``GOSANDBOX_CORS_ORIGINS``, it reads both.

Before, the default was ``GOSANDBOX_CORS_ORIGINS=*``: any page ran code through these routes and read the
output. The page is fulfilled by Playwright at ``http://docs.example.test`` and never reaches a network; both
servers are real uvicorn servers on loopback (another origin: ``http://127.0.0.1:PORT``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from support.app_helpers import MAIN, make_settings
from support.browser_helpers import NO_LOCAL_NETWORK_CHECKS, TIMEOUT_MS, chromium
from support.inprocess_server import uvicorn_serving

SITE = "http://docs.example.test"
PAGE = f"{SITE}/page.html"

#: Run in the page: a request, and what the page could read of its answer ("blocked: ..." when nothing).
FETCH = """async ([url, init]) => {
    try {
        const response = await fetch(url, init);
        return `read ${response.status}: ${await response.text()}`;
    } catch (error) {
        return `blocked: ${error}`;
    }
}"""
COMPILE_JSON = {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": json.dumps({"Body": MAIN})}
EXEC_JSON = {
    "method": "POST",
    "headers": {"Content-Type": "application/json"},
    "body": '{"sandbox": "go", "command": "run", "files": {"": "package main\\nfunc main() {}\\n"}}',
}
COMPILE_FORM = {"method": "POST", "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "body": "version=2&body=package+main%0Afunc+main()+%7B%7D%0A"}  # fmt: skip
RUN_TEXT_NO_CORS = {"method": "POST", "mode": "no-cors", "body": MAIN}  # text/plain: no preflight, opaque answer


class Served:
    def __init__(self, url: str, backend: FakeBackend) -> None:
        self.url, self.backend = url, backend


def serving(tmp_path: Path, **settings: str) -> Iterator[Served]:
    backend = FakeBackend()
    app = create_app(make_settings(tmp_path, **{"public_hosts": "", **settings}), backend=backend)
    with uvicorn_serving(app) as url:
        yield Served(url, backend)


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving(Path(tmp_path_factory.mktemp("cross-origin-default")))


@pytest.fixture(scope="module")
def listing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving(Path(tmp_path_factory.mktemp("cross-origin-listed")), cors_origins=SITE)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(NO_LOCAL_NETWORK_CHECKS) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.route(
        PAGE, lambda route: route.fulfill(body="<!doctype html><title>docs</title>", content_type="text/html")
    )
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.goto(PAGE)
    yield opened
    context.close()


def fetched(page: Page, url: str, init: Mapping[str, object]) -> str:
    result: str = page.evaluate(FETCH, [url, init])
    return result


def test_the_default_server_answers_no_page_of_another_origin(page: Page, default_server: Served) -> None:
    compiled = fetched(page, f"{default_server.url}/compile", COMPILE_JSON)
    executed = fetched(page, f"{default_server.url}/v1/exec", EXEC_JSON)
    assert compiled.startswith("blocked: TypeError"), compiled  # the preflight names no origin: nothing sent
    assert executed.startswith("blocked: TypeError"), executed
    assert default_server.backend.builds == []


def test_a_simple_request_from_another_origin_runs_nothing(page: Page, default_server: Served) -> None:
    form = fetched(page, f"{default_server.url}/compile", COMPILE_FORM)  # no preflight: the request is sent
    text = fetched(page, f"{default_server.url}/run", RUN_TEXT_NO_CORS)
    assert form.startswith("blocked: TypeError"), form  # refused (403), and unreadable
    assert text == "read 0: ", text  # an opaque answer: the page learns nothing
    assert default_server.backend.builds == [], "the server ran nothing for a page of another site"


def test_a_listed_origin_reads_compile_and_exec(page: Page, listing_server: Served) -> None:
    compiled = fetched(page, f"{listing_server.url}/compile", COMPILE_JSON)
    executed = fetched(page, f"{listing_server.url}/v1/exec", EXEC_JSON)
    assert compiled.startswith("read 200: "), compiled
    assert '"Events"' in compiled
    assert executed.startswith("read 200: "), executed
    assert '"ok"' in executed
    assert len(listing_server.backend.builds) == 2

"""What the browser tests share: one Chromium per test module, and a watched page per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from support.browser_helpers import Watched, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (a module that needs other flags defines its own)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    """A fresh page that may reach 127.0.0.1 only (a module watching policy violations defines its own)."""
    page = Watched(browser)
    yield page
    page.close()

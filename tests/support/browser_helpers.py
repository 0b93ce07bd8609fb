"""Debian's Chromium driven by Playwright for the playground's browser tests: launched with no network of its
own, every page watched for requests off loopback, console errors and Content-Security-Policy violations.

Pages are found the way a user finds them, by role and accessible name (the playground's contract: buttons
Run, Stop, Format, Vet, Test, Share; the log Output; the status verdict; the textbox Share link).
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Route, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
#: Headless, sandboxless (we run as root), and none of Chromium's own calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-default-apps", "--disable-sync", "--no-first-run"]  # fmt: skip
#: Installed before the page's own scripts: every policy violation the page provokes, with where it came from.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
    window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
#: What a docs page breaks of its policy: the directive and the URI only (their line numbers vary).
POLICY_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""
TIMEOUT_MS = 30_000


#: A page fulfilled by Playwright counts as public to Local Network Access, which would refuse its calls to
#: loopback before CORS is even asked (a real site calls a server that is not on loopback).
NO_LOCAL_NETWORK_CHECKS = "--disable-features=LocalNetworkAccessChecks"


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's Chromium, headless, with the tests' flags and ``extra_args``."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail("chromium is missing: run `make test-deps` (scripts/ensure-node.sh)")
    with sync_playwright() as playwright:
        args = [*CHROMIUM_ARGS, *extra_args]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A fresh context and page (its own localStorage) that may reach 127.0.0.1 only, recording what went wrong."""

    def __init__(self, browser: Browser, width: int = 1280, height: int = 800) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.context.add_init_script(WATCH_VIOLATIONS)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("dialog", self._dialog)

    def _only_loopback(self, route: Route) -> None:
        url = urllib.parse.urlsplit(route.request.url)
        self.requests.append(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
            route.continue_()
            return
        self.elsewhere.append(route.request.url)
        route.abort()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        self.errors.append(f"{message.text} ({message.location})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found

    def assert_clean(self) -> None:
        """No request off loopback was tried, no console error, no policy violation, no dialog (no script ran)."""
        assert not self.elsewhere, f"requests off loopback: {self.elsewhere}"
        assert not self.errors, f"console errors: {self.errors}"
        violations = self.violations()
        assert not violations, f"Content-Security-Policy violations: {violations}"
        assert not self.dialogs, f"dialogs: {self.dialogs}"

    def close(self) -> None:
        self.context.close()


# --- the playground's controls ---------------------------------------------------------------------


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def output(page: Page) -> Locator:
    return page.get_by_role("log", name="Output")


def verdict(page: Page) -> Locator:
    return page.get_by_role("status")


def editor_lines(page: Page) -> list[str]:
    """The shown file's lines as the editor draws them (all of them for a short file)."""
    lines: list[str] = page.locator(".cm-line").all_text_contents()
    return lines


def wait_until_loaded(page: Page, full: bool = True) -> None:
    """The page has built its UI and shown its first file (an example, a draft or a share); the full page has
    also filled in what the server offers (its Go versions, its limits)."""
    expect(page.locator(".cm-line").first).to_be_visible()
    if full:
        expect(page.get_by_role("combobox", name="Go version")).not_to_have_text("")
        expect(page.get_by_role("spinbutton", name="Wall time (s)")).not_to_have_value("")


def paste(page: Page, text: str) -> None:
    """Ctrl+V of ``text`` through the real clipboard, into what has the focus.

    Not ``keyboard.insert_text``: that is the browser's own editing of the contenteditable, which adds
    style attributes (a CSP violation no user action causes); a paste is handled by CodeMirror.
    """
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    page.keyboard.press("Control+V")


def set_code(page: Page, code: str) -> None:
    """Replace the shown file's text as a user would: select all, paste (no auto-indent, no auto-close)."""
    page.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    paste(page, code)
    expect(page.locator(".cm-content")).to_contain_text(code.strip().splitlines()[-1].strip())


def import_txtar(page: Page, archive: str) -> None:
    page.get_by_text("txtar archive", exact=True).click()
    page.get_by_role("textbox", name="Archive").fill(archive)
    button(page, "Import txtar").click()


CHROMIUM = "/usr/bin/chromium"


#: Headless, and none of Chromium's own calls home (safe browsing, component updates, ...).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-default-apps", "--disable-sync", "--no-first-run"]  # fmt: skip


class PolicyWatched:
    """A page whose requests off loopback are refused, with its console errors and policy violations."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context()
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.context.add_init_script(POLICY_VIOLATIONS)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(LOAD_TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _only_loopback(self, route: Route) -> None:
        url = urllib.parse.urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
            route.continue_()
            return
        self.elsewhere.append(route.request.url)
        route.abort()

    def violations(self) -> list[Any]:
        found: list[Any] = self.page.evaluate("window.__violations")
        return found

    def close(self) -> None:
        self.context.close()


LOAD_TIMEOUT_MS = 20_000

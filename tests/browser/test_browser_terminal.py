"""The playground's terminal in Debian's Chromium against a real ``gosandbox serve``: a run with no stdin set up front
is interactive (docs/interactive.md); what is typed reaches the program while it runs, Ctrl-C interrupts it. The
page also has its icon (no 404 for /favicon.ico: the console check counts it)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from support.browser_helpers import Watched, button, output, set_code, verdict, wait_until_loaded
from support.docker_helpers import TEST_INSTANCE, Server, serving

pytestmark = pytest.mark.docker

RUN_TIMEOUT_MS = 60_000
ASK = """package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	fmt.Print("name? ")
	name, _ := bufio.NewReader(os.Stdin).ReadString('\\n')
	fmt.Printf("hello %s", name)
}
"""
LOOP = """package main

import (
	"fmt"
	"time"
)

func main() {
	for i := 0; ; i++ {
		fmt.Println("tick", i)
		time.Sleep(200 * time.Millisecond)
	}
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("terminal"), f"{TEST_INSTANCE}-terminal") as live:
        yield live


def open_with(watched: Watched, server: Server, code: str) -> Page:
    page = watched.page
    page.goto(server.url + "/")
    wait_until_loaded(page)
    page.get_by_role("spinbutton", name="Wall time (s)").fill("25")
    set_code(page, code)
    return page


def test_typing_a_line_answers_the_waiting_program(watched: Watched, server: Server) -> None:
    page = open_with(watched, server, ASK)
    terminal = page.get_by_role("textbox", name="Terminal")
    expect(terminal).to_be_hidden()
    button(page, "Run").click()
    expect(output(page)).to_have_text("name? ", timeout=RUN_TIMEOUT_MS)
    terminal.focus()  # by keyboard as by pointer
    page.keyboard.type("gopher")
    page.keyboard.press("Enter")
    expect(verdict(page)).to_contain_text(re.compile(r"^ok · exit code 0"), timeout=RUN_TIMEOUT_MS)
    expect(output(page)).to_have_text("name? gopher\nhello gopher\n")  # the echo where it was typed
    expect(terminal).to_be_hidden()
    watched.assert_clean()


def test_ctrl_c_stops_a_loop(watched: Watched, server: Server) -> None:
    page = open_with(watched, server, LOOP)
    button(page, "Run").click()
    expect(output(page)).to_contain_text("tick 1", timeout=RUN_TIMEOUT_MS)
    page.get_by_role("textbox", name="Terminal").press("Control+c")
    expect(verdict(page)).to_contain_text("SIGINT", timeout=10_000)
    expect(button(page, "Run")).to_be_enabled()
    watched.assert_clean()


def test_the_page_links_an_icon_the_server_serves(server: Server) -> None:
    page = httpx.get(server.url + "/", timeout=10)
    assert '<link rel="icon" href="/favicon.ico">' in page.text
    icon = httpx.get(server.url + "/favicon.ico", timeout=10)
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/x-icon")
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO

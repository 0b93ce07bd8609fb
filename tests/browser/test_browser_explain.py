"""The playground's Optimizations hints and Assembly pane in Debian's Chromium, against a real ``gosandbox serve``.

Found by role and accessible name: the toggle buttons Optimizations and Assembly, each hint a note named by its
label and message, the Assembly region with its heading and its listbox of instructions (options).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from support.browser_helpers import Watched, button, editor_lines, set_code, wait_until_loaded
from support.docker_helpers import TEST_INSTANCE, Server, serving

pytestmark = pytest.mark.docker

INSTANCE = f"{TEST_INSTANCE}-explain-page"
EXPLAIN_TIMEOUT_MS = 60_000
PROGRAM = """package main

import "fmt"

type T struct{ a, b int }

func newT() *T {
\treturn &T{1, 2}
}

func add(a, b int) int { return a + b }

func main() {
\tfmt.Println(newT(), add(1, 2))
}
"""
ESCAPE_LINE, ADD_LINE = 8, 11


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("explain-page"), INSTANCE) as live:
        yield live


@pytest.fixture
def page(watched: Watched, server: Server) -> Page:
    watched.page.goto(server.url + "/")
    wait_until_loaded(watched.page)
    set_code(watched.page, PROGRAM)
    return watched.page


def toggle(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def test_optimizations_show_the_escape_on_its_line_with_its_message(page: Page, watched: Watched) -> None:
    toggle(page, "Optimizations").click()
    expect(toggle(page, "Optimizations")).to_have_attribute("aria-pressed", "true")
    hint = page.get_by_role("note", name="escapes: &T{...} escapes to heap", exact=True)
    expect(hint).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)
    marked = page.locator(".cm-line", has=hint)
    expect(marked).to_have_count(1)
    lines = editor_lines(page)
    assert lines.index(marked.text_content() or "") + 1 == ESCAPE_LINE
    assert marked.text_content() or "".startswith("\treturn &T{1, 2}")
    assert hint.get_attribute("title") == "&T{...} escapes to heap"  # what a hover shows
    inlinable = page.get_by_role("note", name=re.compile(r"^inlinable: can inline add \(cost: \d+\)$"))
    expect(page.locator(".cm-line", has=inlinable)).to_contain_text("func add(a, b int) int")
    assert lines.index(page.locator(".cm-line", has=inlinable).text_content() or "") + 1 == ADD_LINE
    toggle(page, "Optimizations").click()
    expect(page.get_by_role("note")).to_have_count(0)
    watched.assert_clean()


def test_the_assembly_pane_follows_the_cursor_both_ways(page: Page, watched: Watched) -> None:
    toggle(page, "Assembly").click()
    pane = page.get_by_role("region", name="Assembly")
    expect(pane).to_be_visible()
    instructions = pane.get_by_role("listbox", name="Instructions")
    expect(instructions.get_by_role("group", name="main.add")).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)

    # Editor → pane: the cursor on add's line selects add's instructions, ADDQ among them.
    page.locator(".cm-line", has_text="func add(a, b int) int").click()
    expect(pane.get_by_role("heading")).to_have_text(f"Assembly · main.go line {ADD_LINE}")
    selected = instructions.get_by_role("option", selected=True)
    expect(selected.filter(has_text="ADDQ BX, AX")).to_have_count(1)
    assert set(selected.locator(".asm-line").all_inner_texts()) == {str(ADD_LINE)}

    # Pane → editor: picking an instruction of newT's allocation moves the cursor to its line.
    newt = instructions.get_by_role("group", name="main.newT")
    newt.get_by_role("option").filter(has_text="runtime.mallocgc").first.click()
    expect(pane.get_by_role("heading")).to_have_text(f"Assembly · main.go line {ESCAPE_LINE}")
    expect(page.locator(".cm-activeLine")).to_have_text("\treturn &T{1, 2}")
    watched.assert_clean()


def test_an_edit_is_explained_again(page: Page, watched: Watched) -> None:
    toggle(page, "Optimizations").click()
    expect(page.get_by_role("note", name=re.compile(r"^escapes: &T"))).not_to_have_count(0, timeout=EXPLAIN_TIMEOUT_MS)
    set_code(page, PROGRAM.replace("func newT() *T {\n\treturn &T{1, 2}\n}", "func newT() T {\n\treturn T{1, 2}\n}")
             .replace("newT(), add", "newT().a, add"))  # fmt: skip
    expect(page.get_by_role("note", name=re.compile(r"^escapes: &T"))).to_have_count(0, timeout=EXPLAIN_TIMEOUT_MS)
    expect(page.get_by_role("note", name=re.compile(r"^inlinable: can inline newT"))).to_have_count(1)
    assert button(page, "Run").is_enabled()
    watched.assert_clean()

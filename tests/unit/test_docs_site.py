"""The documentation site's shape: every page in the nav, a strict config, and the README's links leading somewhere.

``make docs`` (part of ``make lint``) builds the site strictly, which fails on a page left out of the
nav, a broken link between pages or a stale anchor, as long as mkdocs.yml keeps those checks at
``warn`` and ``strict: true`` (held here). The README is not part of the site, so its links are
checked here.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mkdocs.config import load_config
from mkdocs.config.defaults import MkDocsConfig

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: ``[text](target)`` and ``![alt](target)``; the target ends at whitespace or the closing parenthesis.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)


def _config() -> MkDocsConfig:
    """mkdocs.yml as the build reads it: loaded and validated by MkDocs itself."""
    return load_config(str(ROOT / "mkdocs.yml"))


def _nav_pages(entries: list[Any]) -> Iterator[str]:
    for entry in entries:
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, dict):
            for value in entry.values():
                yield from _nav_pages(value) if isinstance(value, list) else [value]


def _readme_links() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return sorted({target for target in _LINK.findall(readme) if not re.match(r"^[a-z]+:", target)})


def _slug(heading: str) -> str:
    """The id Python-Markdown's toc gives a heading (its ``slugify``, on the heading's text)."""
    text = unicodedata.normalize("NFKD", heading.replace("`", "")).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(heading) for heading in _HEADING.findall(text)}


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    nav = list(_nav_pages(_config().nav or []))
    pages = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
    assert sorted(nav) == pages
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


def test_the_build_is_strict_and_fails_on_broken_links_and_anchors() -> None:
    config = _config()
    assert config.strict is True  # every warning below fails the build
    links = config.validation.links
    assert {links.not_found, links.anchors, links.absolute_links, links.unrecognized_links} == {logging.WARNING}
    assert config.validation.nav.omitted_files == logging.WARNING
    assert config.theme["font"] is False  # no web fonts fetched when the site is read


def test_the_readme_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme
    assert "make test" in readme


def test_the_readme_links_to_every_page() -> None:
    linked = {target.split("#")[0] for target in _readme_links()}
    pages = {f"docs/{path.relative_to(DOCS).as_posix()}" for path in DOCS.rglob("*.md")}
    assert pages - {"docs/index.md"} <= linked, f"pages the README does not link: {sorted(pages - linked)}"


@pytest.mark.parametrize("target", _readme_links())
def test_each_readme_link_leads_to_a_file_and_anchor_that_exist(target: str) -> None:
    path, _, anchor = target.partition("#")
    place = (ROOT / path) if path else ROOT / "README.md"
    assert place.exists(), f"README links to {target}, which does not exist"
    if anchor:
        assert place.suffix == ".md", f"README links to an anchor of {path}, not a page"
        assert anchor in _anchors(place), f"README links to #{anchor}, not a heading of {path}"

"""The committed playground bundle (src/gosandbox/web/static/) is exactly what web/src builds to, within budget.

``pip install`` and ``make run`` use the committed files and need no Node; this test is what keeps them
honest: an edit to web/src without ``make web`` fails here. The build runs into a temporary directory,
so the working tree is never touched.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
STATIC = ROOT / "src" / "gosandbox" / "web" / "static"
#: The issue's budget for the page's JavaScript, gzipped.
JS_BUDGET_GZIP_BYTES = 250 * 1024
OURS = re.compile(r"^(app-[0-9a-f]{10,}\.(js|css)|manifest\.json)$")


def build(outdir: Path) -> None:
    if shutil.which("node") is None or not (WEB / "node_modules" / "esbuild").is_dir():
        pytest.fail("node or web/node_modules is missing: run `make test-deps` (scripts/ensure-node.sh)")
    subprocess.run(["node", str(WEB / "build.mjs"), "--outdir", str(outdir)], check=True, timeout=120,
                   capture_output=True)  # fmt: skip


def bundle_files(directory: Path) -> dict[str, bytes]:
    """The build's files in ``directory``: the hashed script and style sheet and the manifest."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if OURS.match(p.name)}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("bundle")
    build(outdir)
    return outdir


def test_the_committed_bundle_is_a_fresh_build(fresh: Path) -> None:
    built, committed = bundle_files(fresh), bundle_files(STATIC)
    assert sorted(built) == sorted(committed), "web/src changed without a rebuild: run `make web` and commit"
    for name, content in built.items():
        assert content == committed[name], f"{name} differs from a fresh build: run `make web` and commit"


def test_the_manifest_names_the_hashed_files(fresh: Path) -> None:
    manifest = json.loads((fresh / "manifest.json").read_text())
    assert set(manifest) == {"app.js", "app.css"}
    assert re.fullmatch(r"app-[0-9a-f]{16}\.js", manifest["app.js"])
    assert re.fullmatch(r"app-[0-9a-f]{16}\.css", manifest["app.css"])
    assert sorted(bundle_files(fresh)) == sorted([*manifest.values(), "manifest.json"])


def test_javascript_within_the_budget() -> None:
    script = json.loads((STATIC / "manifest.json").read_text())["app.js"]
    raw = (STATIC / script).read_bytes()
    gzipped = len(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"\n{script}: {len(raw)} bytes raw, {gzipped} bytes gzipped (-9); budget {JS_BUDGET_GZIP_BYTES}")
    assert gzipped <= JS_BUDGET_GZIP_BYTES


def test_a_rebuild_removes_its_stale_files_only(tmp_path: Path) -> None:
    stale = tmp_path / "app-0123456789abcdef.js"
    stale.write_text("old")
    unrelated = tmp_path / "docs-asset.js"
    unrelated.write_text("not the build's")
    build(tmp_path)
    first = bundle_files(tmp_path)
    build(tmp_path)
    assert not stale.exists()
    assert unrelated.read_text() == "not the build's"
    assert len(first) == 3
    assert bundle_files(tmp_path) == first


def test_the_sources_never_write_markup() -> None:
    """Program output and file names reach the page as text only: no API that parses a string as HTML."""
    sources = {p.name: p.read_text() for p in (WEB / "src").glob("*.js")}
    for name, text in sources.items():
        assert not re.search(
            r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|setAttribute\(\s*['\"]style", text
        ), name

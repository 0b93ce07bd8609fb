"""A stand-in for the playground's built bundle, so the serving side is tested apart from the front end's build."""

from __future__ import annotations

import json
from pathlib import Path

SCRIPT, STYLE = "app-K3J4H5G6.js", "app-K3J4H5G6.css"
SCRIPT_TEXT = "document.getElementById('playground').textContent = 'stand-in';\n"
STYLE_TEXT = "#playground { color: inherit; }\n"


def write_bundle(directory: Path) -> Path:
    """``manifest.json`` naming a script and a style sheet, as ``make web`` writes them; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SCRIPT).write_text(SCRIPT_TEXT, encoding="utf-8")
    (directory / STYLE).write_text(STYLE_TEXT, encoding="utf-8")
    (directory / "manifest.json").write_text(json.dumps({"app.js": SCRIPT, "app.css": STYLE}), encoding="utf-8")
    return directory

"""The playground's built bundle: ``manifest.json`` and the files beside it, served under ``/static/``.

The front end's build (``make web``, sources in ``web/``) writes ``app-<hash>.js``, ``app-<hash>.css``
and ``manifest.json`` = ``{"app.js": "app-<hash>.js", "app.css": "app-<hash>.css"}`` into the
package's ``web/static/`` directory, committed so that an install needs no Node. The directory is
read once, when the app is made: its file names are the only ones ``/static/{name}`` serves (no path
is ever built from a request), and a missing or broken bundle is reported then, not per request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

#: Where the build writes the bundle (``GOSANDBOX_WEB_STATIC_DIR`` points elsewhere).
PACKAGED = Path(__file__).parent / "static"
MANIFEST = "manifest.json"
#: The names ``/static/`` may serve: flat, no dot file, nothing a path could be made of.
_SERVABLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: A content hash in a name: esbuild's (8+ of A-Z and digits) or a hex digest, before the extension.
_HASHED = re.compile(r"-(?:[A-Z0-9]{8,}|[0-9a-f]{8,})\.[A-Za-z0-9.]+$")
_TYPES = {
    ".js": "application/javascript; charset=utf-8",
    ".mjs": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}


class BundleMissing(Exception):
    """The bundle is not built (or its manifest is broken): the pages answer 503 until ``make web``."""


@dataclass(frozen=True)
class Bundle:
    """The built front end: its script and style sheet (from the manifest) and every file it may serve."""

    directory: Path
    script: str
    style: str
    files: frozenset[str]

    def is_hashed(self, name: str) -> bool:
        """A name that changes with its content: cached for a year and never asked for again."""
        return name in (self.script, self.style) or bool(_HASHED.search(name))


def content_type(name: str) -> str:
    """The ``Content-Type`` of a bundle file, by its extension (an unknown one: bytes, never sniffed).

    >>> content_type("app-K3J4H5G6.js"), content_type("app-K3J4H5G6.css"), content_type("x.bin")
    ('application/javascript; charset=utf-8', 'text/css; charset=utf-8', 'application/octet-stream')
    """
    return _TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def load_bundle(directory: Path) -> Bundle:
    """Read ``manifest.json`` and list the directory; :class:`BundleMissing` when it cannot serve a page."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = frozenset(
            entry.name for entry in directory.iterdir() if entry.is_file() and _SERVABLE.match(entry.name)
        )
    except (OSError, ValueError) as exc:
        raise BundleMissing(f"no readable {MANIFEST} in {directory}: {exc}") from None
    return Bundle(directory, _named(manifest, "app.js", files), _named(manifest, "app.css", files), files)


def _named(manifest: object, key: str, files: frozenset[str]) -> str:
    name = manifest.get(key) if isinstance(manifest, dict) else None
    if not isinstance(name, str) or name not in files:
        raise BundleMissing(f"{MANIFEST} names no servable file for {key!r}: {name!r}")
    return name

"""The playground's pages (``/``, ``/embed``, ``/p/{id}``) and its static files (``/static/{name}``).

A page is a few hundred bytes of HTML naming the bundle's script and style sheet; the script builds
the whole UI inside ``#playground``, in the mode ``data-mode`` names (``full``, or ``embed``: editor,
Run and output, for an iframe), and loads ``/p/{id}.txtar`` when ``data-share-id`` is set. ``/`` and
``/embed`` without a program are answered from memory, touching neither the backend nor the store;
a page with a program first checks that the store holds it (an unknown id is a 404).

With no bundle built the pages answer 503 naming ``make web``; the API is served all the same.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import Engine

from gosandbox.auth.context import current_owner
from gosandbox.edge.headers import page_headers, static_headers
from gosandbox.edge.problems import problem, problem_response
from gosandbox.jobs.shares import ShareStore, looks_like_share_id
from gosandbox.problems import share_not_found
from gosandbox.settings import Settings
from gosandbox.web.assets import PACKAGED, Bundle, BundleMissing, content_type, load_bundle
from gosandbox.web.compressed import GzipCopies, accepts_gzip, compressible

logger = logging.getLogger(__name__)

_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>gosandbox playground</title>'
    '<link rel="icon" href="{root}/favicon.ico">'
    '<link rel="stylesheet" href="{root}/static/{style}"><script defer src="{root}/static/{script}"></script>'
    '</head><body><div id="playground" data-mode="{mode}" data-share-id="{share_id}">'
    # Painted as soon as the stylesheet is in, before the script runs (which replaces it): the first render.
    '<header class="toolbar"><span class="brand">gosandbox</span><span class="boot">loading the editor…</span>'
    "</header></div>"
    "<noscript>The playground needs JavaScript; the API it calls is documented at "
    '<a href="{root}/docs">/docs</a>.</noscript></body></html>'
)
FULL, EMBED = "full", "embed"
#: The site's icon: Go's cyan, 32 x 32 (a PNG in an ICO), read once.
FAVICON = (Path(__file__).parent / "favicon.ico").read_bytes()
NOT_BUILT = "the playground's bundle is not built: run `make web`; the API is served all the same (see /docs)"


def page_html(bundle: Bundle, mode: str, share_id: str = "", root: str = "") -> str:
    """The page: the bundle's two files and the mount point; ``share_id`` must already be a valid id."""
    if share_id and not looks_like_share_id(share_id):
        raise ValueError("not a share id")  # the callers check; escaped below all the same
    quoted = {"root": root, "style": bundle.style, "script": bundle.script, "mode": mode, "share_id": share_id}
    return _PAGE.format(**{key: html.escape(value, quote=True) for key, value in quoted.items()})


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")  # behind a proxy that strips a prefix


def _not_shared() -> Response:
    return problem_response(share_not_found())


class Playground:
    """The pages and files of one app: the bundle read at start (None: not built) and the shared programs."""

    def __init__(self, bundle: Bundle | None, shares: ShareStore) -> None:
        self.bundle, self.shares = bundle, shares
        self.gzip_copies = GzipCopies()

    def page(self, request: Request, mode: str, share_id: str = "") -> Response:
        if self.bundle is None:
            return problem(503, "playground-not-built", "Playground not built", NOT_BUILT)
        body = page_html(self.bundle, mode, share_id, _root(request))
        return HTMLResponse(body, headers=page_headers(embeddable=mode == EMBED))

    async def shared(self, request: Request, share_id: str, mode: str = FULL) -> Response:
        """The page with the program shared as ``share_id`` loaded; 404 when there is none."""
        viewer = current_owner()  # another API key's share is not found, as one never made
        if not looks_like_share_id(share_id) or await asyncio.to_thread(self.shares.get, share_id, viewer) is None:
            return _not_shared()
        return self.page(request, mode, share_id)

    async def embed(self, request: Request) -> Response:
        """``/embed?p={id}``: the compact page, empty without ``p``."""
        share_id = request.query_params.get("p", "")
        return await self.shared(request, share_id, EMBED) if share_id else self.page(request, EMBED)

    async def static(self, request: Request, name: str) -> Response:
        """A file of the bundle, by a name it lists (never a path made from the request); gzipped if it helps."""
        found = await self._stat(name)
        if found is None:
            return problem(404, "not-found", "Not found", f"no file {name[:80]!r} in the playground's bundle")
        path, stat = found
        headers = static_headers(hashed=self.bundle is not None and self.bundle.is_hashed(name))
        if compressible(name, stat.st_size):
            headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(request.headers.get("accept-encoding", "")):
                return await self._gzipped(request, path, stat, headers)
        response = FileResponse(path, stat_result=stat, media_type=content_type(name), headers=headers)
        etag = response.headers["etag"]
        if _not_modified(request, etag):
            return Response(status_code=304, headers={**headers, "ETag": etag})
        return response

    async def _stat(self, name: str) -> tuple[Path, os.stat_result] | None:
        if self.bundle is None or name not in self.bundle.files:
            return None
        path = self.bundle.directory / name
        try:
            return path, await asyncio.to_thread(path.stat)
        except OSError:
            return None  # removed since the start

    async def _gzipped(self, request: Request, path: Path, stat: os.stat_result, headers: dict[str, str]) -> Response:
        etag = f'"gz-{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        if _not_modified(request, etag):
            return Response(status_code=304, headers={**headers, "ETag": etag})
        body = await asyncio.to_thread(self.gzip_copies.of, path, stat)
        headers = {**headers, "Content-Encoding": "gzip", "ETag": etag}
        return Response(body, media_type=content_type(path.name), headers=headers)


def _not_modified(request: Request, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]
    return etag in tags or "*" in tags


def bundle_of(settings: Settings) -> Bundle | None:
    """The bundle of ``GOSANDBOX_WEB_STATIC_DIR`` or the package's; None (logged) when it is not built."""
    directory = settings.web_static_dir or PACKAGED
    try:
        return load_bundle(Path(directory))
    except BundleMissing as exc:
        logger.warning("the playground's pages answer 503 until `make web`: %s", exc)
        return None


def add_web_routes(app: FastAPI, settings: Settings, engine: Engine) -> Playground:
    """GET (and HEAD) /, /embed and /static/{name}; ``/p/{id}`` is the Go Playground's route: :func:`share_page`."""
    playground = app.state.playground = Playground(bundle_of(settings), ShareStore(engine))

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def front(request: Request) -> Response:
        """The playground."""
        return playground.page(request, FULL)

    @app.api_route("/embed", methods=["GET", "HEAD"], include_in_schema=False)
    async def embed(request: Request) -> Response:
        return await playground.embed(request)

    @app.api_route("/favicon.ico", methods=["GET", "HEAD"], include_in_schema=False)
    async def favicon() -> Response:
        """The site's icon (a browser asks every site for it)."""
        return Response(FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})

    @app.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def static(request: Request, name: str) -> Response:
        return await playground.static(request, name)

    return playground


async def share_page(request: Request, share_id: str) -> Response:
    """``/p/{id}`` with no extension: the playground with the shared program loaded (404 when unknown)."""
    playground: Playground = request.app.state.playground
    return await playground.shared(request, share_id)

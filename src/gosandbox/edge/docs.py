"""The interactive documentation (/docs: Swagger UI, /redoc: ReDoc), served offline.

FastAPI's own pages load their JavaScript and CSS from a CDN, and so are blank on a machine
without internet. Here they come from the ``fastapi-offline`` package (pinned in
``pyproject.toml``), which ships Swagger UI's and ReDoc's files; they are served under
:data:`ASSETS`. Each page has a Content-Security-Policy of its own: see :mod:`gosandbox.edge.headers`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from gosandbox.edge.headers import documentation_policy
from gosandbox.edge.schemas import (
    FmtSubmission,
    Problem,
    RunRequest,
    RunSubmission,
    SourceRequest,
    TestRequest,
    TestSubmission,
    VetSubmission,
)

#: Where the pages' JavaScript, CSS and icon are served.
ASSETS = "/docs/assets"
#: Swagger UI would show a badge loaded from its online validator (on a host other than loopback): none here.
_OFFLINE_SWAGGER_UI = {"validatorUrl": None}


def assets_directory() -> Path:
    """Swagger UI's and ReDoc's files as ``fastapi-offline`` installs them."""
    return Path(str(files("fastapi_offline") / "static"))


def add_doc_routes(app: FastAPI) -> None:
    """GET /docs and /redoc, and their assets; ``app`` must be made with ``docs_url=None, redoc_url=None``.

    The OpenAPI document (``/openapi.json``) gets the request bodies the routes read by hand (their
    ``openapi_extra`` names them): :data:`DOCUMENTED`.
    """
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(directory=assets_directory(), check_dir=True), name="docs-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")  # behind a proxy that strips a prefix

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_swagger_ui_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{base}{ASSETS}/favicon.png",
            swagger_ui_parameters={**_OFFLINE_SWAGGER_UI, **(app.swagger_ui_parameters or {})},
        )
        return _with_policy(page)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_redoc_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        return _with_policy(page)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    """The page's own Content-Security-Policy (its inline script by hash, see :mod:`gosandbox.edge.headers`)."""
    page.headers["Content-Security-Policy"] = documentation_policy(bytes(page.body))
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


#: The schemas the routes' ``openapi_extra`` refers to by name (they parse their bodies themselves).
DOCUMENTED = (RunRequest, TestRequest, SourceRequest, Problem, RunSubmission, TestSubmission, VetSubmission,
              FmtSubmission)  # fmt: skip


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in DOCUMENTED:
            definitions = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definitions.pop("$defs", {}))
            components[model.__name__] = definitions
        app.openapi_schema = schema
    return app.openapi_schema

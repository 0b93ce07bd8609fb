"""The playground's pages and files as the server serves them: HTML, headers, the bundle's names, shares.

In process on the FakeBackend (the backend plays no part in serving a page), with a stand-in bundle
(tests/web_bundle.py) so that these tests do not depend on the front end's build.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.headers import EMBED_POLICY, IMMUTABLE, PAGE_POLICY, inline_script_hashes
from gosandbox.jobs.shares import share_id
from gosandbox.web.assets import PACKAGED, BundleMissing, content_type, load_bundle
from gosandbox.web.pages import page_html
from support.app_helpers import make_settings, problem_of
from support.web_bundle import SCRIPT, SCRIPT_TEXT, STYLE, write_bundle

STRICT = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'self'")  # fmt: skip
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n'
CAP = 64 * 1024  # make_settings's max_body_bytes
BIG = "big-1A2B3C4D.js"
BIG_TEXT = "".join(f"export const value{n} = {n};\n" for n in range(2000))


def expected_page(mode: str, shared: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>gosandbox playground</title>'
        '<link rel="icon" href="/favicon.ico">'
        f'<link rel="stylesheet" href="/static/{STYLE}"><script defer src="/static/{SCRIPT}"></script></head>'
        f'<body><div id="playground" data-mode="{mode}" data-share-id="{shared}"><header class="toolbar">'
        '<span class="brand">gosandbox</span><span class="boot">loading the editor…</span></header></div><noscript>'
        'The playground needs JavaScript; the API it calls is documented at <a href="/docs">/docs</a>.'
        "</noscript></body></html>"
    )


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_bundle(tmp_path_factory.mktemp("static"))
    (directory / "chunk-7F3A9B2C.js").write_text("export const x = 1;\n")  # another hashed file of the build
    (directory / "LICENSES.txt").write_text("MIT\n")  # not hashed: revalidated
    (directory / BIG).write_text(BIG_TEXT)
    (directory / ".hidden").write_text("no\n")
    (directory / "sub").mkdir()
    (directory / "sub" / "inner.js").write_text("no\n")
    return directory


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, static_dir: Path) -> FastAPI:
    settings = make_settings(tmp_path_factory.mktemp("state"), web_static_dir=static_dir)
    return create_app(settings, backend=FakeBackend())


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def share(client: TestClient, program: str = HELLO) -> str:
    response = client.post("/share", content=program.encode(), headers={"Content-Type": "text/plain; charset=utf-8"})
    assert response.status_code == 200, response.text
    return response.text


# --- pages ----------------------------------------------------------------------------------------


def test_the_front_page_is_the_contracts_html_with_strict_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == expected_page("full")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == STRICT == PAGE_POLICY
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "unsafe-inline" not in response.headers["content-security-policy"]


def test_the_front_page_touches_neither_the_backend_nor_the_store(app: FastAPI, client: TestClient) -> None:
    engine, backend = app.state.jobs.store.engine, app.state.backend
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    event.listen(engine, "checkout", checked_out)
    try:
        executions = len(backend.executions)
        started = time.perf_counter()
        for _ in range(20):
            assert client.get("/").status_code == 200
            assert client.get("/embed").status_code == 200
        elapsed_s = time.perf_counter() - started
    finally:
        event.remove(engine, "checkout", checked_out)
    assert checkouts == []
    assert len(backend.executions) == executions
    assert elapsed_s / 40 < 0.05, f"{elapsed_s / 40 * 1000:.1f} ms a page in process"


def test_embed_is_frameable_anywhere_and_empty_without_a_program(client: TestClient) -> None:
    response = client.get("/embed")
    assert response.status_code == 200
    assert response.text == expected_page("embed")
    assert response.headers["content-security-policy"] == STRICT.replace("frame-ancestors 'self'", "frame-ancestors *")
    assert response.headers["content-security-policy"] == EMBED_POLICY
    assert (response.headers["referrer-policy"], response.headers["cache-control"]) == ("no-referrer", "no-cache")
    assert client.get("/embed?p=").text == expected_page("embed")


def test_embed_with_a_shared_program_names_it_and_an_unknown_or_malformed_id_is_404(client: TestClient) -> None:
    shared = share(client)
    assert client.get(f"/embed?p={shared}").text == expected_page("embed", shared)
    problem_of(client.get("/embed?p=0123456789abcdef"), 404, "share-not-found")  # well formed, never shared
    for malformed in ('"><script>alert(1)</script>', "short", "a" * 33, "abc-defghijkl", "%00"):
        response = client.get("/embed", params={"p": malformed})
        problem_of(response, 404, "share-not-found")
        assert "<script>" not in response.text


def test_p_id_is_the_page_with_the_program_and_its_extensions_stay_raw_text(client: TestClient) -> None:
    shared = share(client)
    page = client.get(f"/p/{shared}")
    assert page.status_code == 200
    assert page.text == expected_page("full", shared)
    assert page.headers["content-security-policy"] == STRICT
    assert page.headers["cache-control"] == "no-cache"
    for suffix in (".go", ".txtar"):
        raw = client.get(f"/p/{shared}{suffix}")
        assert (raw.status_code, raw.text) == (200, HELLO)
        assert raw.headers["content-type"] == "text/plain; charset=utf-8"
        assert raw.headers["x-content-type-options"] == "nosniff"
        assert "content-disposition" not in raw.headers
    download = client.get(f"/p/{shared}?download=true")  # the Playground's download link, without its .go
    assert download.text == HELLO
    assert download.headers["content-disposition"] == f'attachment; filename="{shared}.go"'
    assert client.get(f"/p/{shared}.txtar?download=1").headers["content-disposition"].endswith('.txtar"')
    problem_of(client.get("/p/0123456789abcdef"), 404, "share-not-found")
    problem_of(client.get("/p/short"), 404, "share-not-found")
    problem_of(client.get('/p/"><img src=x onerror=alert(1)>'), 404, "share-not-found")


def test_a_program_printing_html_is_served_as_text_never_as_a_page(client: TestClient) -> None:
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>\n"
    shared = share(client, hostile)
    raw = client.get(f"/p/{shared}.go")
    assert (raw.text, raw.headers["content-type"]) == (hostile, "text/plain; charset=utf-8")
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert "<img" not in client.get(f"/p/{shared}").text  # the page names the program; it never holds it


def test_the_share_id_is_checked_and_escaped_before_it_reaches_the_attribute(static_dir: Path) -> None:
    bundle = load_bundle(static_dir)
    assert 'data-share-id="0123456789abc"' in page_html(bundle, "full", "0123456789abc")
    for bad in ('x" onload="alert(1)', "0123456789<>&", "short"):
        with pytest.raises(ValueError, match="share id"):
            page_html(bundle, "full", bad)
    prefixed = page_html(bundle, "full", root='/a"b')  # a proxy's prefix is escaped too
    assert 'href="/a&quot;b/static/' in prefixed


# --- the bundle's files ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [(SCRIPT, "application/javascript"), (STYLE, "text/css"),
                                            ("chunk-7F3A9B2C.js", "application/javascript")])  # fmt: skip
def test_hashed_files_are_immutable_with_their_type_and_policy(client: TestClient, name: str, kind: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == kind
    assert response.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert response.headers["content-security-policy"] == STRICT
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["etag"]
    if name == SCRIPT:
        assert response.text == SCRIPT_TEXT


def test_text_files_are_gzipped_for_a_client_that_takes_it(client: TestClient) -> None:
    gzipped = client.get(f"/static/{BIG}", headers={"Accept-Encoding": "gzip, br"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.text == BIG_TEXT  # decoded by the client
    assert int(gzipped.headers["content-length"]) < len(BIG_TEXT) / 4
    assert (gzipped.headers["vary"], gzipped.headers["cache-control"]) == ("Accept-Encoding", IMMUTABLE)
    assert gzipped.headers["content-type"] == "application/javascript; charset=utf-8"
    assert gzipped.headers["content-security-policy"] == STRICT
    again = client.get(f"/static/{BIG}", headers={"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["etag"]})
    assert again.status_code == 304
    plain = client.get(f"/static/{BIG}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == BIG_TEXT.encode()
    assert plain.headers["etag"] != gzipped.headers["etag"]
    refused = client.get(f"/static/{BIG}", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    small = client.get(f"/static/{SCRIPT}", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # too small to gain


def test_head_of_the_page_and_a_file(client: TestClient) -> None:
    page = client.head("/")
    assert (page.status_code, page.content) == (200, b"")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == STRICT
    script = client.head(f"/static/{SCRIPT}", headers={"Accept-Encoding": "identity"})
    assert (script.status_code, script.content, script.headers["content-length"]) == (200, b"", str(len(SCRIPT_TEXT)))


def test_other_files_of_the_build_are_revalidated(client: TestClient) -> None:
    first = client.get("/static/LICENSES.txt")
    assert (first.status_code, first.text, first.headers["cache-control"]) == (200, "MIT\n", "no-cache")
    again = client.get("/static/LICENSES.txt", headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == first.headers["etag"]
    manifest = client.get("/static/manifest.json")
    assert manifest.json() == {"app.js": SCRIPT, "app.css": STYLE}
    assert manifest.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/static/app-NOTBUILT.js", "/static/.hidden", "/static/sub/inner.js",
                                  "/static/..%2Fmanifest.json", "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
                                  "/static/", "/static/sub"])  # fmt: skip
def test_a_name_the_bundle_does_not_list_is_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    problem_of(response, 404, "not-found")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_file_removed_after_start_is_404(tmp_path: Path) -> None:
    directory = write_bundle(tmp_path / "static")
    (directory / "late-AB12CD34.js").write_text("1")
    with TestClient(create_app(make_settings(tmp_path, web_static_dir=directory), backend=FakeBackend())) as client:
        (directory / "late-AB12CD34.js").unlink()
        problem_of(client.get("/static/late-AB12CD34.js"), 404, "not-found")


def test_the_manifest_is_read_once_at_start(tmp_path: Path) -> None:
    directory = write_bundle(tmp_path / "static")
    with TestClient(create_app(make_settings(tmp_path, web_static_dir=directory), backend=FakeBackend())) as client:
        (directory / "app-NEW12345.js").write_text("new")
        (directory / "manifest.json").write_text(json.dumps({"app.js": "app-NEW12345.js", "app.css": STYLE}))
        assert f"/static/{SCRIPT}" in client.get("/").text
        problem_of(client.get("/static/app-NEW12345.js"), 404, "not-found")


@pytest.mark.parametrize("manifest", [None, "not json", "[]", '{"app.js": "app-K3J4H5G6.js"}',
                                      '{"app.js": "missing.js", "app.css": "app-K3J4H5G6.css"}',
                                      '{"app.js": "../app.js", "app.css": "app-K3J4H5G6.css"}'])  # fmt: skip
def test_without_a_bundle_the_pages_are_503_naming_make_web_and_the_api_is_served(
    tmp_path: Path, manifest: str | None
) -> None:
    directory = write_bundle(tmp_path / "static")
    if manifest is None:
        (directory / "manifest.json").unlink()
    else:
        (directory / "manifest.json").write_text(manifest)
    with TestClient(create_app(make_settings(tmp_path, web_static_dir=directory), backend=FakeBackend())) as client:
        for path in ("/", "/embed"):
            problem = problem_of(client.get(path), 503, "playground-not-built")
            assert "make web" in problem["detail"]
        problem_of(client.get(f"/static/{SCRIPT}"), 404, "not-found")
        assert client.get("/healthz").status_code == 200
        assert client.post("/run", json={"code": HELLO}).status_code == 200
        assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(("name", "hashed"), [(SCRIPT, True), ("chunk-7F3A9B2C.js", True), ("x-0a1b2c3d4e.css", True),
                                              ("LICENSES.txt", False), ("app-fallback.css", False),
                                              ("manifest.json", False)])  # fmt: skip
def test_which_names_are_hashed(static_dir: Path, name: str, hashed: bool) -> None:
    assert load_bundle(static_dir).is_hashed(name) is hashed


def test_the_listing_holds_only_flat_visible_files(static_dir: Path) -> None:
    listed = load_bundle(static_dir).files
    assert listed == {SCRIPT, STYLE, "manifest.json", "chunk-7F3A9B2C.js", "LICENSES.txt", BIG}
    assert content_type("a.map") == "application/json"
    with pytest.raises(BundleMissing):
        load_bundle(static_dir / "sub")


def test_the_packaged_bundle_is_the_default_and_serves_the_page(tmp_path: Path) -> None:
    """The bundle ``make web`` committed (tests/test_web_bundle.py checks it is a fresh build) as served."""
    assert make_settings(tmp_path).web_static_dir is None
    manifest = json.loads((PACKAGED / "manifest.json").read_text())
    with TestClient(create_app(make_settings(tmp_path), backend=FakeBackend())) as client:
        page = client.get("/")
        assert page.status_code == 200, page.text
        assert f'<script defer src="/static/{manifest["app.js"]}">' in page.text
        assert f'<link rel="stylesheet" href="/static/{manifest["app.css"]}">' in page.text
        for name, kind in ((manifest["app.js"], "application/javascript"), (manifest["app.css"], "text/css")):
            response = client.get(f"/static/{name}")
            assert response.status_code == 200
            assert response.headers["content-type"].split(";")[0] == kind
            assert response.headers["cache-control"] == IMMUTABLE
            assert response.content == (PACKAGED / name).read_bytes()


# --- the headers of everything else ---------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/healthz"), ("GET", "/openapi.json"), ("GET", "/no/such"),
                                              ("GET", "/run"), ("POST", "/run"), ("OPTIONS", "/compile"),
                                              ("GET", "/docs/assets/favicon.png"), ("POST", "/share")])  # fmt: skip
def test_every_answer_says_nosniff_once(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, headers={"Origin": "https://docs.example.test"})
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], (method, path, response.status_code)


def test_the_documentation_pages_allow_only_their_own_inline_script(client: TestClient) -> None:
    swagger = client.get("/docs")
    scripts = inline_script_hashes(swagger.content)
    assert len(scripts) == 1
    policy = dict(part.split(" ", 1) for part in swagger.headers["content-security-policy"].split("; "))
    assert policy["script-src"] == f"'self' {scripts[0]}"
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert "validatorUrl" in swagger.text
    assert '"validatorUrl": null' in swagger.text  # no badge from the online validator
    redoc = client.get("/redoc")
    redoc_policy = dict(part.split(" ", 1) for part in redoc.headers["content-security-policy"].split("; "))
    assert redoc_policy["script-src"] == "'self'"
    assert swagger.headers["x-content-type-options"] == redoc.headers["x-content-type-options"] == "nosniff"


def test_the_page_and_its_files_need_no_key_the_program_does(tmp_path: Path, static_dir: Path) -> None:
    settings = make_settings(tmp_path, auth="required", web_static_dir=static_dir)
    with TestClient(create_app(settings, backend=FakeBackend())) as client:
        assert client.get("/").status_code == 200
        assert client.get("/embed").status_code == 200
        assert client.get(f"/static/{SCRIPT}").status_code == 200
        problem_of(client.get("/p/0123456789abcdef.go"), 401, "unauthorized")
        problem_of(client.post("/run", json={"code": HELLO}), 401, "unauthorized")


# --- shares ---------------------------------------------------------------------------------------


def test_post_share_answers_the_bare_content_addressed_id_stored_in_sql(app: FastAPI, client: TestClient) -> None:
    program = HELLO.replace("hi", "stored")
    response = client.post("/share", content=program.encode())
    assert response.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(r"[0-9A-Za-z]{10,}", response.text), response.text  # no newline, no JSON, no URL
    assert response.text == share_id(program.encode())
    assert client.post("/share", content=program.encode()).text == response.text
    with app.state.jobs.store.engine.connect() as connection:
        rows = connection.execute(text("SELECT body FROM shares WHERE id = :id"), {"id": response.text}).all()
    assert [bytes(row[0]) for row in rows] == [program.encode()]


def test_a_share_is_capped_at_the_body_cap(client: TestClient) -> None:
    at_cap = b"// " + b"x" * (CAP - 4) + b"\n"
    assert len(at_cap) == CAP
    assert client.get(f"/p/{share(client, at_cap.decode())}.go").content == at_cap
    problem_of(client.post("/share", content=at_cap + b"x"), 413, "payload-too-large")

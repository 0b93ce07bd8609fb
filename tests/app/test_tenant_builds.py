"""Issue 24: tenants' builds are independent. The owner of a job reaches its build as a value: one key's binary is
never another key's cache hit, and the backend is told whose build it is (the builder keys the go command's cache
of the submission's packages by it: tests/sandbox/test_fast_build.py)."""

from __future__ import annotations

from pathlib import Path

from gosandbox.backends.fake import FakeBackend
from support.tenants import tenants

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("same source") }\n'


def test_the_same_source_is_built_again_for_another_key(tmp_path: Path) -> None:
    backend = FakeBackend()
    with tenants(tmp_path, backend=backend, binary_cache_mb=1) as app:
        a, b = app.tenant("key-a"), app.tenant("key-b")
        runs = [(who, who.post("/run", json={"code": MAIN}).json()) for who in (a, a, b, b)]
    assert [(who.name, body["status"], body["cached"]) for who, body in runs] == [
        ("key-a", "ok", False),
        ("key-a", "ok", True),
        ("key-b", "ok", False),  # not key-a's binary
        ("key-b", "ok", True),
    ]
    assert [job.tenant for job in backend.builds] == ["key-a", "key-b"]


def test_a_judging_s_builds_are_its_owner_s(tmp_path: Path) -> None:
    """The program and its checker are built for the key that asked, and are not another key's cache hit."""
    checker = 'package main\n\nimport "os"\n\nfunc main() { os.Exit(42) }\n'
    body = {"code": MAIN, "cases": [{"stdin": ""}], "checker": {"code": checker}}
    backend = FakeBackend()
    with tenants(tmp_path, backend=backend, binary_cache_mb=1) as app:
        a, b = app.tenant("key-a"), app.tenant("key-b")
        for who in (a, b):
            response = who.post("/judge", json=body)
            assert response.status_code == 200, response.text
    assert [job.tenant for job in backend.builds] == ["key-a", "key-a", "key-b", "key-b"]

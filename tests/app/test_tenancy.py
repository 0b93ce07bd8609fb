"""Every submission, event stream, share and Idempotency-Key is its API key's: two real keys on one app.

Another key gets 404 (as for what never existed: no oracle) for reads, events, cancels and deletes on
every surface; an admin key sees all; without keys everything is the one keyless tenant's. The
findings of issue 24 these close: B replayed A's Idempotency-Key into A's output, squatted A's key,
read A's output, events, key name, source and stdin (Judge0 ``fields=source_code,stdin``), cancelled
A's job and erased A's finished result (Judge0 ``DELETE``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gosandbox.auth.keys import KeyStore
from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.cli.main import main
from gosandbox.wiring import open_store
from support.app_helpers import MAIN, WAIT_S, make_settings, problem_of
from support.jobs_helpers import sse_events, wait_until
from support.tenants import Tenant, Tenants, tenants

SECRET_STDIN = "A's secret stdin"
A_RUN = {"code": MAIN, "stdin": SECRET_STDIN}  # the fake program echoes its stdin: A's output is the secret
CALLBACKS: dict[str, Any] = {"callback_hosts": "127.0.0.1:9", "callback_secret": "s3cret"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Tenants]:
    with tenants(tmp_path, **CALLBACKS) as made:
        yield made


@pytest.fixture
def ann(app: Tenants) -> Tenant:
    return app.tenant("ann")


@pytest.fixture
def bob(app: Tenants) -> Tenant:
    return app.tenant("bob")


def token_of(submission_id: str) -> str:
    return str(uuid.UUID(hex=submission_id))


def finished_submission(tenant: Tenant, idempotency_key: str | None = None) -> dict[str, object]:
    """A's run of :data:`A_RUN`, once it is done (under ``idempotency_key`` if given)."""
    headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
    answered = tenant.post("/submissions?wait=10", json=A_RUN, headers=headers)
    assert answered.status_code == 201, answered.text
    assert answered.json()["state"] == "done"
    return dict(answered.json())


# --- Idempotency-Key ------------------------------------------------------------------------------


def test_another_keys_idempotency_key_is_another_key(ann: Tenant, bob: Tenant) -> None:
    """B sending A's exact request under A's key gets a submission of its own, not A's (and A's output)."""
    first = finished_submission(ann, "k1")
    replayed = bob.post("/submissions", json=A_RUN, headers={"Idempotency-Key": "k1"})
    assert replayed.status_code == 201, replayed.text
    assert "idempotent-replayed" not in replayed.headers
    assert replayed.json()["id"] != first["id"]
    again = ann.post("/submissions", json=A_RUN, headers={"Idempotency-Key": "k1"})  # A's own replay still works
    assert (again.status_code, again.json()["id"], again.headers["idempotent-replayed"]) == (200, first["id"], "true")


def test_a_key_used_by_another_key_is_no_oracle_and_cannot_be_squatted(ann: Tenant, bob: Tenant) -> None:
    """B's other request under A's key is B's own (no 422 telling it A used the key); B first cannot block A."""
    finished_submission(ann, "used-by-a")
    other = bob.post("/submissions", json={"code": MAIN}, headers={"Idempotency-Key": "used-by-a"})
    assert other.status_code == 201, other.text
    squat = bob.post("/submissions", json={"code": MAIN}, headers={"Idempotency-Key": "a-will-use-it"})
    assert squat.status_code == 201
    own = ann.post("/submissions", json=A_RUN, headers={"Idempotency-Key": "a-will-use-it"})
    assert own.status_code == 201, own.text
    assert own.json()["id"] != squat.json()["id"]


def test_a_replay_with_another_callback_url_is_another_request(ann: Tenant) -> None:
    """Every field that changes what happens is compared: the callback too (it decides where the result goes)."""
    key = {"Idempotency-Key": "with-callback"}
    first = ann.post("/submissions", json={**A_RUN, "callback_url": "http://127.0.0.1:9/a"}, headers=key)
    assert first.status_code == 201, first.text
    moved = ann.post("/submissions", json={**A_RUN, "callback_url": "http://127.0.0.1:9/elsewhere"}, headers=key)
    problem_of(moved, 422, "idempotency-key-reused")
    dropped = ann.post("/submissions", json=A_RUN, headers=key)
    problem_of(dropped, 422, "idempotency-key-reused")
    same = ann.post("/submissions", json={**A_RUN, "callback_url": "http://127.0.0.1:9/a"}, headers=key)
    assert (same.status_code, same.json()["id"]) == (200, first.json()["id"])


# --- the native routes ----------------------------------------------------------------------------


def test_another_keys_submission_is_404_to_read_list_follow_and_cancel(ann: Tenant, bob: Tenant) -> None:
    submission_id = str(finished_submission(ann)["id"])
    for refused in (bob.get(f"/submissions/{submission_id}"), bob.get(f"/submissions/{submission_id}/events"),
                    bob.delete(f"/submissions/{submission_id}")):  # fmt: skip
        body = problem_of(refused, 404, "submission-not-found")
        assert SECRET_STDIN not in refused.text
        assert "ann" not in body["detail"]
    assert bob.get("/submissions", params={"ids": submission_id}).json() == {"submissions": []}
    mine = ann.get(f"/submissions/{submission_id}").json()
    assert (mine["state"], mine["result"]["stdout"], mine["api_key_name"]) == ("done", SECRET_STDIN, "ann")
    assert ann.get("/submissions", params={"ids": submission_id}).json()["submissions"][0]["id"] == submission_id


def test_another_key_cannot_cancel_a_running_job(tmp_path: Path) -> None:
    release = threading.Event()

    def held(job: ExecJob) -> ExecOutcome:
        release.wait(WAIT_S)
        return ExecOutcome(exit_code=0, signal=None, stdout=b"ran to its end", stderr=b"", duration_s=0.0)

    with tenants(tmp_path, backend=FakeBackend(execute=held)) as app:
        ann, bob = app.tenant("ann"), app.tenant("bob")
        submission_id = ann.post("/submissions", json=A_RUN).json()["id"]
        wait_until(lambda: ann.get(f"/submissions/{submission_id}").json()["state"] == "running")
        problem_of(bob.delete(f"/submissions/{submission_id}"), 404, "submission-not-found")
        assert bob.delete(f"/judge0/submissions/{token_of(submission_id)}").status_code == 404
        release.set()
        wait_until(lambda: ann.get(f"/submissions/{submission_id}").json()["state"] != "running")
        assert ann.get(f"/submissions/{submission_id}").json()["result"]["stdout"] == "ran to its end"


def test_the_key_name_is_shown_to_its_owner_only(ann: Tenant, bob: Tenant) -> None:
    submission_id = str(finished_submission(ann)["id"])
    assert ann.get(f"/submissions/{submission_id}").json()["api_key_name"] == "ann"
    with ann.http.stream("GET", f"/submissions/{submission_id}/events", headers=ann.headers) as stream:
        result = [e for e in sse_events(stream.iter_lines()) if e.event == "result"][-1]
    assert result.data["api_key_name"] == "ann"
    refused = bob.get(f"/submissions/{submission_id}")
    assert "ann" not in refused.text


# --- Judge0 ---------------------------------------------------------------------------------------


def test_judge0_reads_and_deletes_of_another_keys_token_are_404(ann: Tenant, bob: Tenant) -> None:
    token = token_of(str(finished_submission(ann)["id"]))
    fields = {"fields": "source_code,stdin,stdout"}
    for refused in (bob.get(f"/judge0/submissions/{token}", params=fields), bob.delete(f"/judge0/submissions/{token}")):
        assert (refused.status_code, refused.json()) == (404, {"error": "submission not found"})
    batch = bob.get("/judge0/submissions/batch", params={"tokens": token, **fields})
    assert batch.json() == {"submissions": [None]}
    mine = ann.get(f"/judge0/submissions/{token}", params=fields)  # B's DELETE erased nothing
    assert (mine.status_code, mine.json()["stdin"], mine.json()["stdout"]) == (200, SECRET_STDIN, SECRET_STDIN)
    assert ann.delete(f"/judge0/submissions/{token}").status_code == 200  # the owner's DELETE is Judge0's
    assert ann.get(f"/judge0/submissions/{token}").status_code == 404


# --- every surface's jobs -------------------------------------------------------------------------

#: One request per surface that stores jobs: (path, JSON body). MCP is called through its protocol.
SURFACES = {
    "run": ("/run", A_RUN),
    "judge0": ("/judge0/submissions?wait=true", {"source_code": MAIN, "language_id": 60, "stdin": SECRET_STDIN}),
    "piston": (
        "/api/v2/execute",
        {"language": "go", "version": "0.0-fake", "files": [{"content": MAIN}], "stdin": SECRET_STDIN},
    ),
    "codapi": ("/v1/exec", {"sandbox": "go", "command": "run", "files": {"": MAIN}}),
    "playground": ("/compile", {"Body": MAIN, "WithVet": True}),
    "mcp": ("/mcp", {}),
}


@pytest.mark.parametrize("surface", SURFACES)
def test_every_surfaces_jobs_are_404_to_another_key(app: Tenants, ann: Tenant, bob: Tenant, surface: str) -> None:
    """Whatever surface made a job, another key can neither read, follow, cancel nor delete it; its owner can."""
    path, body = SURFACES[surface]
    answered = ann.mcp_run(MAIN) if surface == "mcp" else ann.post(path, json=body)
    assert answered.status_code in (200, 201), answered.text
    made = app.ids_of("ann")
    assert made, "the surface stored no job"
    for submission_id in made:
        token = token_of(submission_id)
        for path_ in (f"/submissions/{submission_id}", f"/submissions/{submission_id}/events",
                      f"/judge0/submissions/{token}"):  # fmt: skip
            assert bob.get(path_).status_code == 404, path_
            assert ann.get(path_).status_code == 200, path_
        assert bob.delete(f"/judge0/submissions/{token}").status_code == 404
        assert bob.delete(f"/submissions/{submission_id}").status_code == 404
    assert app.ids_of("ann") == made  # nothing of A's was deleted


# --- admin keys -----------------------------------------------------------------------------------


def test_an_admin_key_sees_cancels_and_deletes_every_keys_submissions(app: Tenants, ann: Tenant) -> None:
    admin = app.tenant("root", admin=True)
    submission_id = str(finished_submission(ann)["id"])
    seen = admin.get(f"/submissions/{submission_id}").json()
    assert (seen["api_key_name"], seen["result"]["stdout"]) == ("ann", SECRET_STDIN)
    assert admin.get("/submissions", params={"ids": submission_id}).json()["submissions"][0]["id"] == submission_id
    source = admin.get(f"/judge0/submissions/{token_of(submission_id)}", params={"fields": "stdin"}).json()
    assert source == {"stdin": SECRET_STDIN}
    assert admin.delete(f"/judge0/submissions/{token_of(submission_id)}").status_code == 200
    assert ann.get(f"/submissions/{submission_id}").status_code == 404


def test_keys_create_admin_makes_an_admin_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSANDBOX_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "create", "--name", "root", "--admin"]).exit_code == 0
    assert runner.invoke(main, ["keys", "create", "--name", "plain"]).exit_code == 0
    listed = {key.name: key.admin for key in KeyStore(open_store(make_settings(tmp_path)).engine).list()}
    assert listed == {"root": True, "plain": False}


# --- shares ---------------------------------------------------------------------------------------


def test_a_share_is_its_keys_and_only_its_owner_deletes_it(ann: Tenant, bob: Tenant) -> None:
    program = b'package main\n\nfunc main() { println("ann\'s program") }\n'
    share_id = ann.post("/share", content=program).text
    for path in (f"/p/{share_id}.go", f"/share?id={share_id}", f"/p/{share_id}", f"/embed?p={share_id}"):
        problem_of(bob.get(path), 404, "share-not-found")
    problem_of(bob.delete(f"/p/{share_id}"), 404, "share-not-found")
    assert ann.get(f"/p/{share_id}.go").content == program  # B's DELETE deleted nothing
    assert bob.post("/share", content=program).text != share_id  # the same bytes, B's own link
    assert ann.delete(f"/p/{share_id}.go").status_code == 204
    problem_of(ann.get(f"/p/{share_id}.go"), 404, "share-not-found")
    problem_of(ann.delete(f"/p/{share_id}"), 404, "share-not-found")


# --- the keyless tenant ---------------------------------------------------------------------------


def test_without_keys_every_request_is_the_one_keyless_tenant(tmp_path: Path) -> None:
    """The default server: one tenant, so a submission, its Judge0 token and a share are every caller's."""
    with tenants(tmp_path, auth="off") as app:
        first = app.http.post("/submissions", json=A_RUN, headers={"Idempotency-Key": "k"}).json()
        again = app.http.post("/submissions", json=A_RUN, headers={"Idempotency-Key": "k"})
        assert (again.status_code, again.json()["id"]) == (200, first["id"])
        problem_of(app.http.post("/submissions", json={"code": MAIN}, headers={"Idempotency-Key": "k"}), 422,
                   "idempotency-key-reused")  # fmt: skip
        assert app.http.get(f"/submissions/{first['id']}").json()["api_key_name"] is None
        share_id = app.http.post("/share", content=b"package main\n").text
        assert app.http.get(f"/p/{share_id}.go").status_code == 200
        assert app.http.delete(f"/p/{share_id}").status_code == 204
        assert app.ids_of(None) == [first["id"]]

"""The HTTP contract of jobs (/submissions) in-process, embedded mode, on the FakeBackend."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.errors import SandboxFailure
from gosandbox.jobs.webhooks import NOT_DELIVERED, Webhooks
from support.app_helpers import MAIN, PROBLEM, WAIT_S, Gate, problem_of, show_binary
from support.jobs_helpers import (
    dispatcher_of,
    finished,
    get,
    jobs_of,
    read_events,
    serve,
    sse_events,
    stored_count,
    submit,
    wait_until,
)
from support.webhook_receiver import receiving

RUN = {"code": MAIN}
SECRET = "s3cret"
UNKNOWN_ID = "0" * 32

# --- helpers ------------------------------------------------------------------------------------


@contextmanager
def gated(tmp_path: Path, **overrides: Any) -> Iterator[tuple[TestClient, Gate, FakeBackend]]:
    """A server whose runs wait for ``gate.release``, always released before the server stops."""
    gate = Gate()
    backend = FakeBackend(execute=gate)
    with serve(tmp_path, backend, **overrides) as client:
        try:
            yield client, gate, backend
        finally:
            gate.release.set()


def without_timings(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "timings_ms"}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(execute=show_binary)


@pytest.fixture
def client(tmp_path: Path, backend: FakeBackend) -> Iterator[TestClient]:
    with serve(tmp_path, backend) as test_client:
        yield test_client


# --- submitting ----------------------------------------------------------------------------------


def test_a_submission_is_answered_201_queued_with_its_location(client: TestClient) -> None:
    submission = submit(client, RUN)  # checks the status, the fields and Location
    assert (submission["kind"], submission["state"], submission["attempts"]) == ("run", "queued", 0)
    assert (submission["result"], submission["error"], submission["started_at"]) == (None, None, None)
    assert submission["created_at"].endswith("Z")
    assert len(submission["id"]) == 32
    assert finished(client, submission["id"])["state"] == "done"


@pytest.mark.parametrize("kind", ["run", "test", "vet", "fmt"])
def test_every_kind_runs_as_a_job(client: TestClient, kind: str) -> None:
    submission = submit(client, {**RUN, "kind": kind}, wait=WAIT_S)
    assert (submission["kind"], submission["state"]) == (kind, "done")
    assert submission["result"] is not None


@pytest.mark.parametrize("body", [{**RUN, "kind": "build"}, {**RUN, "kind": 5}, {**RUN, "unknown": 1}])
def test_an_unknown_kind_or_field_is_422(client: TestClient, backend: FakeBackend, body: dict[str, Any]) -> None:
    problem_of(client.post("/submissions", json=body), 422, "invalid-source")
    assert stored_count(client) == 0


def test_a_text_plain_body_is_a_run_job(client: TestClient, backend: FakeBackend) -> None:
    response = client.post("/submissions", content=MAIN.encode(), headers={"content-type": "text/plain"})
    assert response.status_code == 201, response.text
    final = finished(client, response.json()["id"])
    assert (final["kind"], final["state"]) == ("run", "done")
    assert backend.builds[0].files["main.go"] == MAIN


def test_the_result_is_what_post_run_returns(client: TestClient) -> None:
    body = {**RUN, "stdin": "some input", "args": ["-n", "1"]}
    synchronous = client.post("/run", json=body)
    assert synchronous.status_code == 200
    final = get(client, submit(client, body, wait=WAIT_S)["id"])
    assert final["state"] == "done"
    assert final["error"] is None
    assert without_timings(final["result"]) == without_timings(synchronous.json())
    assert final["attempts"] == 1
    assert final["started_at"] is not None
    assert final["finished_at"] is not None


def test_wait_answers_as_soon_as_the_job_ends(tmp_path: Path) -> None:
    with gated(tmp_path) as (client, gate, _):
        timer = threading.Timer(0.3, gate.release.set)
        started = time.monotonic()
        timer.start()
        try:
            submission = submit(client, RUN, wait=5)
        finally:
            timer.cancel()
        elapsed = time.monotonic() - started
    assert submission["state"] == "done"
    assert 0.3 <= elapsed < 2.0


def test_wait_gives_up_after_its_seconds(tmp_path: Path) -> None:
    with gated(tmp_path) as (client, _, _):
        started = time.monotonic()
        submission = submit(client, RUN, wait=0.5)
        elapsed = time.monotonic() - started
    assert submission["state"] == "running"
    assert 0.5 <= elapsed < 2.0


@pytest.mark.parametrize("wait", ["61", "-1", "soon", "nan"])
def test_a_wait_out_of_range_is_422(client: TestClient, wait: str) -> None:
    problem_of(client.post("/submissions", json=RUN, params={"wait": wait}), 422, "invalid-request")


# --- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("submission_id", [UNKNOWN_ID, "not-an-id", "A" * 32])
def test_an_unknown_or_malformed_id_is_404(client: TestClient, submission_id: str) -> None:
    problem_of(client.get(f"/submissions/{submission_id}"), 404, "submission-not-found")


def test_a_listing_keeps_the_order_asked_and_omits_unknown_ids(client: TestClient) -> None:
    first, second = submit(client, RUN)["id"], submit(client, RUN)["id"]
    response = client.get("/submissions", params={"ids": f"{second},{UNKNOWN_ID},{first}"})
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["submissions"]] == [second, first]


@pytest.mark.parametrize("ids", [",".join([UNKNOWN_ID] * 101), "abc", f"{UNKNOWN_ID},xyz", ","])
def test_a_listing_of_too_many_or_malformed_ids_is_400(client: TestClient, ids: str) -> None:
    problem_of(client.get("/submissions", params={"ids": ids}), 400, "invalid-request")


def test_a_listing_without_ids_is_422(client: TestClient) -> None:
    problem_of(client.get("/submissions"), 422, "invalid-request")


# --- batches ------------------------------------------------------------------------------------


def test_a_batch_stores_every_submission(client: TestClient) -> None:
    response = client.post("/submissions/batch", json={"submissions": [RUN, {**RUN, "kind": "vet"}]})
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert len(set(ids)) == 2
    listed = client.get("/submissions", params={"ids": ",".join(ids)}).json()["submissions"]
    assert [s["kind"] for s in listed] == ["run", "vet"]
    assert [finished(client, i)["state"] for i in ids] == ["done", "done"]


@pytest.mark.parametrize("count", [0, 101])
def test_a_batch_of_none_or_over_100_is_422(client: TestClient, backend: FakeBackend, count: int) -> None:
    problem_of(client.post("/submissions/batch", json={"submissions": [RUN] * count}), 422, "invalid-source")
    assert stored_count(client) == 0
    assert backend.builds == []


@pytest.mark.parametrize(
    ("item", "slug"),
    [
        ({"code": 5}, "invalid-source"),
        ({**RUN, "kind": "build"}, "invalid-source"),
        ({**RUN, "limits": {"wall_s": 999}}, "limit-out-of-range"),
        ({**RUN, "go_version": "go9.9"}, "unknown-toolchain"),
        ({**RUN, "callback_url": "http://not-allowed.invalid/"}, "callback-not-allowed"),
    ],
)
def test_one_invalid_item_refuses_the_whole_batch(
    client: TestClient, backend: FakeBackend, item: dict[str, Any], slug: str
) -> None:
    response = client.post("/submissions/batch", json={"submissions": [RUN, item, RUN]})
    assert problem_of(response, 422, slug)["detail"].startswith("submissions[1]: ")
    assert stored_count(client) == 0
    assert backend.builds == []


# --- cancelling ---------------------------------------------------------------------------------


def test_a_cancelled_queued_job_never_runs(tmp_path: Path) -> None:
    with gated(tmp_path, max_concurrent_runs=1) as (client, gate, backend):
        running = submit(client, {**RUN, "stdin": "running"})
        assert gate.entered.acquire(timeout=WAIT_S)
        queued = submit(client, {**RUN, "stdin": "queued"})
        response = client.delete(f"/submissions/{queued['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "cancelled"
        gate.release.set()
        assert finished(client, running["id"])["state"] == "done"
        dispatcher = dispatcher_of(client)
        wait_until(lambda: dispatcher.running == dispatcher.waiting == 0)  # the queued one came and went
        assert [job.stdin for job in backend.executions] == [b"running"]
        cancelled = get(client, queued["id"])
        assert (cancelled["state"], cancelled["attempts"], cancelled["result"]) == ("cancelled", 0, None)


def test_cancelling_a_running_job_kills_its_sandbox(tmp_path: Path) -> None:
    started, killed = threading.Event(), threading.Event()

    def execute(job: ExecJob) -> ExecOutcome:
        started.set()
        if job.cancel.wait(WAIT_S):
            killed.set()
        return ExecOutcome(exit_code=137, signal=9, stdout=b"", stderr=b"", duration_s=0.0, cancelled=True)

    with serve(tmp_path, FakeBackend(execute=execute)) as client:
        submission_id = submit(client, RUN)["id"]
        assert started.wait(WAIT_S)
        response = client.delete(f"/submissions/{submission_id}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "cancelled"
        assert killed.wait(WAIT_S), "the sandbox was not told to stop"
        events = read_events(client, submission_id)
        final = get(client, submission_id)
    assert (final["state"], final["result"]) == ("cancelled", None)
    assert [(e.event, e.data.get("state")) for e in events[-2:]] == [("state", "cancelled"), ("result", "cancelled")]


def test_cancelling_a_finished_job_is_409(client: TestClient) -> None:
    submission_id = submit(client, RUN, wait=WAIT_S)["id"]
    problem_of(client.delete(f"/submissions/{submission_id}"), 409, "submission-finished")
    assert get(client, submission_id)["state"] == "done"


@pytest.mark.parametrize("submission_id", [UNKNOWN_ID, "nope"])
def test_cancelling_an_unknown_job_is_404(client: TestClient, submission_id: str) -> None:
    problem_of(client.delete(f"/submissions/{submission_id}"), 404, "submission-not-found")


# --- idempotency --------------------------------------------------------------------------------


def test_the_same_idempotency_key_gives_the_same_submission(client: TestClient, backend: FakeBackend) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = client.post("/submissions", json=RUN, headers=headers, params={"wait": WAIT_S})
    second = client.post("/submissions", json=RUN, headers=headers)
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["location"] == first.headers["location"]
    assert len(backend.executions) == 1


def test_an_idempotency_key_reused_for_another_request_is_422(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-43"}
    assert client.post("/submissions", json=RUN, headers=headers).status_code == 201
    reused = client.post("/submissions", json={**RUN, "stdin": "other"}, headers=headers)
    assert "different request" in problem_of(reused, 422, "idempotency-key-reused")["detail"]
    assert stored_count(client) == 1


@pytest.mark.parametrize("key", ["k" * 256, "with space", ""])
def test_a_malformed_idempotency_key_is_400(client: TestClient, key: str) -> None:
    response = client.post("/submissions", json=RUN, headers={"Idempotency-Key": key})
    assert "Idempotency-Key" in problem_of(response, 400, "invalid-request")["detail"]
    assert stored_count(client) == 0


# --- events -------------------------------------------------------------------------------------


def test_events_come_in_order_and_the_stream_ends_with_the_result(tmp_path: Path) -> None:
    def execute(job: ExecJob) -> ExecOutcome:
        return ExecOutcome(exit_code=0, signal=None, stdout=b"out\n", stderr=b"err\n", duration_s=0.0)

    with serve(tmp_path, FakeBackend(execute=execute)) as client:
        submission_id = submit(client, RUN)["id"]
        events = read_events(client, submission_id)
        final = get(client, submission_id)
    assert [e.event for e in events] == ["state", "state", "compile", "stdout", "stderr", "state", "result"]
    assert events[0].data == {"state": "queued"}
    assert events[1].data["state"] == "running"
    assert events[2].data["succeeded"] is True
    assert (events[3].data, events[4].data) == ({"text": "out\n"}, {"text": "err\n"})
    assert events[5].data == {"state": "done"}
    assert events[6].data == final
    assert all(e.id for e in events)
    assert len({e.id for e in events}) == len(events)


def test_a_finished_job_replays_its_events_and_last_event_id_resumes(client: TestClient) -> None:
    submission_id = submit(client, RUN)["id"]
    first = read_events(client, submission_id)
    assert get(client, submission_id)["state"] == "done"
    assert read_events(client, submission_id) == first
    assert read_events(client, submission_id, last_event_id=first[2].id) == first[3:]
    after_the_end = client.get(f"/submissions/{submission_id}/events", headers={"Last-Event-ID": first[-1].id})
    assert (after_the_end.status_code, after_the_end.content) == (204, b"")


def test_a_job_ending_this_moment_replays_every_event(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """``?wait`` answers on the result event, before the events are stored with the submission."""
    store = jobs_of(client).store
    store_events, stored = store.set_events, threading.Event()

    def set_events_later(submission_id: str, events: list[dict[str, Any]]) -> None:
        stored.wait(WAIT_S)
        store_events(submission_id, events)

    monkeypatch.setattr(store, "set_events", set_events_later)
    try:
        submission = submit(client, RUN, wait=WAIT_S)
        assert submission["state"] == "done"
        events = read_events(client, submission["id"])
    finally:
        stored.set()
    assert [e.event for e in events] == ["state", "state", "compile", "stdout", "state", "result"]


def test_output_is_streamed_while_the_program_runs(tmp_path: Path) -> None:
    first_seen = threading.Event()

    def execute(job: ExecJob) -> ExecOutcome:
        assert job.on_output is not None
        job.on_output("stdout", b"first\n")
        if not first_seen.wait(WAIT_S):
            raise SandboxFailure("the first chunk never reached the client")
        job.on_output("stdout", b"second\n")
        return ExecOutcome(exit_code=0, signal=None, stdout=b"", stderr=b"", duration_s=0.0)

    with serve(tmp_path, FakeBackend(execute=execute)) as client:
        submission_id = submit(client, RUN)["id"]
        events = []
        with client.stream("GET", f"/submissions/{submission_id}/events") as response:
            for event in sse_events(response.iter_lines()):
                events.append(event)
                if event.event == "stdout":
                    first_seen.set()
    assert [e.data["text"] for e in events if e.event == "stdout"] == ["first\n", "second\n"]
    assert events[-1].data["state"] == "done"


@pytest.mark.parametrize("submission_id", [UNKNOWN_ID, "nope"])
def test_events_of_an_unknown_job_are_404(client: TestClient, submission_id: str) -> None:
    problem_of(client.get(f"/submissions/{submission_id}/events"), 404, "submission-not-found")


# --- admission ----------------------------------------------------------------------------------


def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    with gated(tmp_path, max_concurrent_runs=1, max_queued=1) as (client, gate, _):
        submit(client, RUN)
        assert gate.entered.acquire(timeout=WAIT_S)
        submit(client, RUN)
        assert dispatcher_of(client).waiting == 1
        refused = client.post("/submissions", json=RUN)
        synchronous = client.post("/run", json=RUN)
        assert stored_count(client) == 2
    for response in (refused, synchronous):
        problem_of(response, 429, "overloaded")
        assert int(response.headers["retry-after"]) >= 1


# --- webhooks -----------------------------------------------------------------------------------


def test_a_callback_posts_the_signed_final_submission(tmp_path: Path) -> None:
    with (
        receiving([200]) as receiver,
        serve(
            tmp_path, FakeBackend(execute=show_binary), callback_hosts=receiver.host, callback_secret=SECRET
        ) as client,
    ):
        submission_id = submit(client, {**RUN, "callback_url": receiver.url})["id"]
        wait_until(lambda: get(client, submission_id)["callback"] is not None)
        final = get(client, submission_id)
    assert final["callback"]["delivered"] is True
    assert (final["callback"]["attempts"], final["callback"]["status_code"]) == (1, 200)
    [callback] = receiver.received
    signed = callback.timestamp.encode() + b"." + callback.body
    assert callback.signature == "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert json.loads(callback.body) == {**final, "callback": None}
    assert final["callback_url"] == receiver.url


def test_a_callback_is_retried_until_it_is_delivered(tmp_path: Path) -> None:
    with (
        receiving([500, 500, 500, 200]) as receiver,
        serve(tmp_path, FakeBackend(), callback_hosts=receiver.host, callback_secret=SECRET) as client,
    ):
        submission_id = submit(client, {**RUN, "callback_url": receiver.url})["id"]
        wait_until(lambda: get(client, submission_id)["callback"] is not None, timeout=15, every=0.05)
        callback = get(client, submission_id)["callback"]
    assert (callback["delivered"], callback["attempts"], callback["status_code"]) == (True, 4, 200)
    assert len(receiver.received) == 4


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://not-allowed.invalid/", "GOSANDBOX_CALLBACK_HOSTS"),
        ("http://127.0.0.1:8082/", "GOSANDBOX_CALLBACK_HOSTS"),  # the port is part of the allowed host
        ("http://127.0.0.1/", "GOSANDBOX_CALLBACK_HOSTS"),
        ("ftp://127.0.0.1:8081/", "http://"),
        ("http://user:password@127.0.0.1:8081/", "user info"),
        ("http://127.0.0.1:8081@not-allowed.invalid/", "user info"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http://127.0.0.1:8081/\x01", "not a valid URL"),  # httpx, which sends it, would refuse it
        (" http://127.0.0.1:8081/", "http://"),  # a parser that strips it and one that does not disagree
        ("http://127.0.0.1:8081\\@not-allowed.invalid/", "user info"),
    ],
)
def test_a_callback_url_off_the_allowlist_is_422(tmp_path: Path, url: str, named: str) -> None:
    backend = FakeBackend()
    with serve(tmp_path, backend, callback_hosts="127.0.0.1:8081", callback_secret=SECRET) as client:
        response = client.post("/submissions", json={**RUN, "callback_url": url})
        assert named in problem_of(response, 422, "callback-not-allowed")["detail"]
        assert stored_count(client) == 0


def test_an_allowed_ipv6_host_is_written_in_brackets(tmp_path: Path) -> None:
    with serve(tmp_path, FakeBackend(), callback_hosts="[::1]:8081", callback_secret=SECRET) as client:
        response = client.post("/submissions", json={**RUN, "callback_url": "http://[::1]:8081/hook"})
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("settings", "named"),
    [({}, "GOSANDBOX_CALLBACK_HOSTS"), ({"callback_hosts": "127.0.0.1"}, "GOSANDBOX_CALLBACK_SECRET")],
)
def test_callbacks_are_off_unless_configured(tmp_path: Path, settings: dict[str, str], named: str) -> None:
    with serve(tmp_path, FakeBackend(), **settings) as client:
        response = client.post("/submissions", json={**RUN, "callback_url": "http://127.0.0.1:8081/"})
        assert named in problem_of(response, 422, "callback-not-allowed")["detail"]


# --- upkeep, failures, status -------------------------------------------------------------------


def test_a_finished_job_is_purged_after_its_ttl(tmp_path: Path) -> None:
    with serve(tmp_path, FakeBackend(), result_ttl_s=1) as client:
        submission_id = submit(client, RUN, wait=WAIT_S)["id"]
        service = jobs_of(client)
        service.sweep()
        assert get(client, submission_id)["state"] == "done"  # finished less than 1 s ago

        def purged() -> bool:
            service.sweep()
            status: int = client.get(f"/submissions/{submission_id}").status_code
            return status == 404

        wait_until(purged, every=0.1)


def test_a_backend_failure_fails_the_job_with_a_problem(tmp_path: Path) -> None:
    def execute(job: ExecJob) -> ExecOutcome:
        raise SandboxFailure("creating the run sandbox failed")

    with serve(tmp_path, FakeBackend(execute=execute)) as client:
        submission = submit(client, RUN, wait=WAIT_S)
        synchronous = client.post("/run", json=RUN)
    assert (submission["state"], submission["result"]) == ("failed", None)
    error = submission["error"]
    assert (error["type"], error["status"]) == (PROBLEM + "backend-unavailable", 503)
    assert error["detail"].startswith("creating the run sandbox failed")
    assert problem_of(synchronous, 503, "backend-unavailable") == error


def test_readyz_and_version_in_embedded_mode(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/version").json()["mode"] == "embedded"


# --- when a signal is lost ----------------------------------------------------------------------


def test_a_running_job_cancelled_behind_its_back_stops_by_itself(tmp_path: Path) -> None:
    """The cancel signal never reaches the runner (a queue outage): its watchdog sees the store and stops it."""
    stopped = threading.Event()

    def run_until_cancelled(job: ExecJob) -> ExecOutcome:
        if job.cancel.wait(WAIT_S):
            stopped.set()
        return ExecOutcome(exit_code=137, signal=9, stdout=b"", stderr=b"", duration_s=0.0, cancelled=True)

    with serve(tmp_path, FakeBackend(execute=run_until_cancelled)) as client:
        submission_id = submit(client, RUN)["id"]
        wait_until(lambda: get(client, submission_id)["state"] == "running", timeout=WAIT_S)
        assert jobs_of(client).store.cancel(submission_id) is not None  # the store only: no signal is sent
        assert stopped.wait(WAIT_S), "the job should notice within its ownership check period"
        assert get(client, submission_id)["state"] == "cancelled"


def test_an_event_stream_ends_even_if_the_result_event_is_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gosandbox.jobs.service.KEEPALIVE_S", 0.2)
    with gated(tmp_path) as (client, gate, _):
        submission_id = submit(client, RUN)["id"]
        assert gate.entered.acquire(timeout=WAIT_S)
        events = jobs_of(client).events
        publish = events.publish

        def drop_results(submission_id: str, name: str, data: dict[str, Any]) -> None:
            if name != "result":
                publish(submission_id, name, data)

        monkeypatch.setattr(events, "publish", drop_results)
        gate.release.set()
        names = [event.event for event in read_events(client, submission_id)]
    assert names[-1] == "result"


def test_a_process_without_the_allowlist_records_a_refused_callback() -> None:
    recorded: list[dict[str, Any]] = []
    webhooks = Webhooks(frozenset(), "", lambda _, outcome: recorded.append(outcome))
    webhooks.send("a" * 32, "http://127.0.0.1:9/hook", {"id": "a" * 32})
    webhooks.close()
    assert recorded[0]["delivered"] is False
    assert recorded[0]["error"] == NOT_DELIVERED  # the reason is the operator's (logged), not the client's

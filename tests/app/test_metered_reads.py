"""Reads metered, answers bounded: each id once, output stored once, at most three JSON bytes per output byte.

The findings of issue 24 these close: one ``GET /judge0/submissions/batch`` naming the same token 20
times rendered 120 MiB (and reads cost no rate-limit unit at all); 1 MiB of control bytes came back as
6 MiB of ``\\u0001`` escapes, and was stored twice (in the result and in the events).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.jobs.tables import SubmissionRow
from support.app_helpers import MAIN, problem_of
from support.jobs_helpers import sse_events
from support.tenants import Tenant, Tenants, tenants

MIB = 1024 * 1024
#: Every C0 control character, and a byte that is not UTF-8: what JSON escapes, and what it cannot carry.
HOSTILE = bytes([*range(0x20), 0xFF])
CAPS: dict[str, Any] = {"max_output_bytes": MIB, "max_body_bytes": MIB}


def printing(output: bytes) -> FakeBackend:
    def execute(job: ExecJob) -> ExecOutcome:
        return ExecOutcome(exit_code=0, signal=None, stdout=output, stderr=b"", duration_s=0.0)

    return FakeBackend(execute=execute)


def finished(tenant: Tenant) -> str:
    answered = tenant.post("/submissions?wait=10", json={"code": MAIN, "limits": {"output_bytes": MIB}})
    assert answered.json()["state"] == "done", answered.text
    return str(answered.json()["id"])


def stored_bytes(app: Tenants, column: str, submission_id: str) -> int:
    query = select(func.length(getattr(SubmissionRow, column))).where(SubmissionRow.id == submission_id)
    with app.keys.engine.connect() as connection:
        return int(connection.scalar(query) or 0)


def test_a_judge0_batch_read_answers_each_token_once(tmp_path: Path) -> None:
    with tenants(tmp_path, auth="off") as app:
        first = app.http.post("/submissions?wait=10", json={"code": MAIN, "stdin": "one"}).json()["id"]
        second = app.http.post("/submissions?wait=10", json={"code": MAIN, "stdin": "two"}).json()["id"]
        token, other, bare = str(uuid.UUID(hex=first)), str(uuid.UUID(hex=second)), first
        unknown = str(uuid.uuid4())
        asked = [token] * 10 + [bare, unknown, other, unknown, token, "not-a-token", "not-a-token"]
        answer = app.http.get("/judge0/submissions/batch", params={"tokens": ",".join(asked), "fields": "stdout"})
        assert answer.status_code == 200
        assert answer.json() == {"submissions": [{"stdout": "one"}, None, {"stdout": "two"}, None]}


def test_control_bytes_cost_at_most_six_json_bytes_each_in_every_answer(tmp_path: Path) -> None:
    """1 MiB of every control byte and invalid UTF-8: kept as written (a byte that is not UTF-8 as U+FFFD), at most
    a six-byte JSON escape each, and the events no longer repeat the output; Judge0's Base64 carries the bytes."""
    output = HOSTILE * (MIB // len(HOSTILE))
    with tenants(tmp_path, backend=printing(output), auth="off", **CAPS) as app:
        submission_id = finished(Tenant("keyless", "", app.http))
        token = str(uuid.UUID(hex=submission_id))
        submission = app.http.get(f"/submissions/{submission_id}")
        judge0 = app.http.get(f"/judge0/submissions/{token}")
        encoded = app.http.get(f"/judge0/submissions/{token}", params={"base64_encoded": "true", "fields": "stdout"})
        events = app.http.get(f"/submissions/{submission_id}/events")
    stdout = submission.json()["result"]["stdout"]
    assert stdout[:4] == "\x00\x01\x02\x03"
    assert stdout[9:11] == "\t\n"
    assert stdout[32] == "\ufffd"
    assert len(stdout) == len(output)
    assert len(submission.content) <= 6 * len(output) + 4096
    assert len(judge0.content) <= 6 * len(output) + 4096
    assert len(events.content) <= 2 * 6 * len(output) + 8192  # the output events, then the result holding it
    # Base64 carries bytes: the control characters themselves come back (a byte that was not UTF-8 as U+FFFD)
    assert base64.b64decode(encoded.json()["stdout"]) == output.replace(b"\xff", "\ufffd".encode())
    assert len(encoded.content) <= 2 * len(output)


def test_the_output_is_stored_once(tmp_path: Path) -> None:
    """The events keep only their lengths where the result holds their text, and replay it whole."""
    output = b"x" * (MIB - 1)
    with tenants(tmp_path, backend=printing(output), auth="off", **CAPS) as app:
        submission_id = finished(Tenant("keyless", "", app.http))
        assert stored_bytes(app, "result", submission_id) > len(output)
        assert stored_bytes(app, "events", submission_id) < 4096
        with app.http.stream("GET", f"/submissions/{submission_id}/events") as stream:
            replayed = list(sse_events(stream.iter_lines()))
    texts = "".join(str(e.data.get("text", "")) for e in replayed if e.event == "stdout")
    assert texts == output.decode()
    assert replayed[-1].event == "result"


def test_reads_cost_a_unit_per_mib_and_a_key_in_debt_is_refused(tmp_path: Path) -> None:
    """A 2 MiB answer costs two units; a key that read more than its bucket held is refused until it refills."""
    with tenants(tmp_path, backend=printing(b"x" * (2 * MIB)), max_output_bytes=4 * MIB) as app:
        ann = app.tenant("ann", burst=5, rate_per_s=1 / 3600)
        bob = app.tenant("bob", burst=5, rate_per_s=1 / 3600)
        # 1 unit for the POST, 2 for its answer (the finished submission): 2 left
        submission_id = ann.post("/submissions?wait=10", json={"code": MAIN}).json()["id"]
        assert [ann.get(f"/submissions/{submission_id}").status_code for _ in range(2)] == [200, 200]
        refused = ann.get(f"/submissions/{submission_id}")  # 2 - 2 x 2 = -2: in debt
        problem_of(refused, 429, "rate-limited")
        assert int(refused.headers["retry-after"]) > 3600
        problem_of(ann.post("/submissions", json={"code": MAIN}), 429, "rate-limited")
        assert bob.get("/judge0/about").status_code == 200  # another key's bucket is its own


def test_small_reads_add_up_and_status_polls_stay_cheap(tmp_path: Path) -> None:
    with tenants(tmp_path) as app:
        ann = app.tenant("ann", burst=2, rate_per_s=1 / 3600)
        submission_id = ann.post("/submissions?wait=10", json={"code": MAIN}).json()["id"]
        polls = [ann.get(f"/submissions/{submission_id}") for _ in range(200)]  # ~1 KB each: < 1 MiB together
        assert {poll.status_code for poll in polls} == {200}
        assert polls[-1].headers["ratelimit"].startswith('"burst";r=1;')


def test_a_listing_is_streamed_whole_and_in_order(tmp_path: Path) -> None:
    with tenants(tmp_path, auth="off") as app:
        ids = [app.http.post("/submissions", json={"code": MAIN}).json()["id"] for _ in range(9)]
        asked = [*reversed(ids), uuid.uuid4().hex]
        listing = app.http.get("/submissions", params={"ids": ",".join(asked)})
    assert listing.headers["content-type"] == "application/json"
    assert [s["id"] for s in json.loads(listing.content)["submissions"]] == asked[:-1]

"""Bodies are read and parsed before admission: a ceiling on their JSON, and at most N at once.

In-process on the FakeBackend, under a real uvicorn where sockets matter (a body that arrives slowly).
The memory of a real server under a flood of such bodies: tests/test_docker_parse_flood.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.parsing import SMALL_BODY_BYTES, ParsingGate
from gosandbox.edge.requests import MAX_JSON_TOKENS, check_json_size, run_job
from gosandbox.errors import InvalidSource
from support.app_helpers import MAIN, WAIT_S, make_settings
from support.inprocess_server import read_status, send_request, uvicorn_serving
from support.parsing_floods import ENDPOINTS, JSON, MIB, flood_body, many_keys_body


@contextmanager
def serving(tmp_path: Path, **overrides: Any) -> Iterator[tuple[FastAPI, str, FakeBackend]]:
    backend = FakeBackend()
    app = create_app(make_settings(tmp_path, max_body_bytes=MIB, **overrides), backend=backend)
    with uvicorn_serving(app) as url:
        yield app, url, backend


# --- the ceiling ----------------------------------------------------------------------------------


def test_the_flood_body_is_what_the_probe_sent() -> None:
    body = many_keys_body()
    assert MIB - 16 <= len(body) <= MIB
    assert len(json.loads(body)["limits"]) > 130_000


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_131k_keys_are_422_at_the_ceiling_on_every_endpoint_that_takes_a_body(tmp_path: Path, endpoint: str) -> None:
    with serving(tmp_path) as (_, url, backend):
        started = time.monotonic()
        response = httpx.post(url + endpoint, content=flood_body(endpoint), headers=JSON)
        took = time.monotonic() - started
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert f"more than {MAX_JSON_TOKENS} keys, array items and strings" in response.json()["detail"]
    assert took < 2.0, f"{took:.2f} s to refuse it"
    assert backend.builds == []


def test_the_largest_valid_request_is_far_below_the_ceiling() -> None:
    body = json.dumps({
        "files": {f"dir{i % 8}/f{i:03}.go": "package main\n" for i in range(255)} | {"main.go": MAIN},
        "args": ["x" * 10] * 64, "stdin": "in", "go_version": None,
        "limits": {"wall_s": 1.0, "memory_mb": 64, "cpus": 1.0, "pids": 8, "output_bytes": 1024},
    }).encode()  # fmt: skip
    check_json_size(body, most=MAX_JSON_TOKENS // 32)
    assert len(run_job(body, "application/json", make_settings(Path("/nonexistent")), "").spec.files) == 257


@pytest.mark.parametrize(
    "body",
    [b'"' * MIB, b'"' + b'\\"' * (MIB // 2) + b"\\", b'"' + b"\\\n" * (MIB // 2), b"[" * MIB, b",:" * (MIB // 2)],
    ids=["quotes", "escaped-quotes-unterminated", "escaped-newlines", "brackets", "punctuation"],
)
def test_counting_is_linear_on_hostile_bytes(body: bytes) -> None:
    started = time.monotonic()
    with suppress(InvalidSource):
        check_json_size(body)
    assert time.monotonic() - started < 0.5


def test_the_ceiling_counts_strings_not_what_is_inside_them() -> None:
    check_json_size(json.dumps({"code": "a, b: [c, {d}]\n" * 60_000}).encode())
    with pytest.raises(InvalidSource, match="more than 10 keys"):
        check_json_size(b'{"args": [' + b'"a",' * 10 + b'"b"]}', most=10)


# --- slots ----------------------------------------------------------------------------------------


class HeldParse:
    """Stands for run_job: the first call waits for ``release`` (it holds its validating slot)."""

    def __init__(self) -> None:
        self.entered, self.release, self.calls = threading.Event(), threading.Event(), 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(WAIT_S)
        return run_job(*args)


def _post_in_thread(url: str, body: dict[str, Any]) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(httpx.post(url, json=body, timeout=WAIT_S)))
    thread.start()
    return thread, answers


def test_bodies_beyond_the_slots_wait_their_turn_then_get_429(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldParse()
    monkeypatch.setattr("gosandbox.api.programs.run_job", held)
    with serving(tmp_path, max_parsing=1) as (app, url, _):
        gate: ParsingGate = app.state.parsing
        gate.wait_s = 0.5
        first, answers = _post_in_thread(f"{url}/run", {"code": MAIN})
        assert held.entered.wait(WAIT_S)
        started = time.monotonic()
        refused = httpx.post(f"{url}/run", json={"code": MAIN}, timeout=WAIT_S)
        waited = time.monotonic() - started
        second, later = _post_in_thread(f"{url}/run", {"code": MAIN})  # waits, and gets its turn
        time.sleep(0.1)
        held.release.set()
        first.join(WAIT_S)
        second.join(WAIT_S)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert "request bodies are being validated now" in refused.json()["detail"]
    assert 0.5 <= waited < 2.0
    assert [a.status_code for a in answers + later] == [200, 200]


def test_a_slow_large_upload_holds_a_reading_slot_not_the_validating_ones(tmp_path: Path) -> None:
    """Small bodies are read without a slot: a client trickling a large one cannot stall them."""
    with serving(tmp_path, max_parsing=1) as (app, url, _):
        gate: ParsingGate = app.state.parsing
        gate.wait_s = 0.5
        size = 4 * SMALL_BODY_BYTES
        slow = send_request(url, "/run", b'{"code": "' + b"x" * SMALL_BODY_BYTES, declared=size)
        time.sleep(0.2)  # it holds the one reading slot now
        try:
            quick = [httpx.post(f"{url}/run", json={"code": MAIN}, timeout=WAIT_S) for _ in range(3)]
            second = send_request(url, "/run", b'{"code": "' + b"y" * (size - 12) + b'"}', declared=size)
            started = time.monotonic()
            status, headers = read_status(second)
            waited = time.monotonic() - started
            second.close()
        finally:
            slow.close()
        after = httpx.post(url + "/run", content=b'{"code": "' + b"z" * size + b'"}', timeout=WAIT_S)
    assert [r.status_code for r in quick] == [200, 200, 200]
    assert status == 429
    assert headers["retry-after"] == "1"
    assert waited < 2.0
    assert after.status_code == 200, after.text  # the slot came back when the slow client left

"""Callbacks as a stranger could abuse them: an allowlist entry names host and port, a failure records nothing
that tells a closed port from an open one, a receiver that never answers delays no other host's callbacks,
and a signature covers a timestamp so that a captured callback cannot be sent again later."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.fake import FakeBackend
from gosandbox.errors import CallbackNotAllowed
from gosandbox.jobs import webhooks
from gosandbox.jobs.webhooks import NOT_DELIVERED, Webhooks, check_callback_url
from support.app_helpers import MAIN, make_settings, problem_of
from support.webhook_receiver import receiving

SECRET = "webhook-policy-secret"


# --- the allowlist: host and port ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://hooks.test/x", {"hooks.test"}),  # a bare host: its scheme's default port
        ("https://hooks.test/x", {"hooks.test"}),
        ("http://hooks.test:80/x", {"hooks.test"}),
        ("http://hooks.test:8081/x", {"hooks.test:8081"}),
        ("http://hooks.test:8082/x", {"hooks.test:*"}),  # every port, written out
        ("http://[::1]:8081/x", {"[::1]:*"}),
        ("https://[::1]/x", {"[::1]"}),
    ],
)
def test_an_entry_allows_its_host_and_port(url: str, allowed: set[str]) -> None:
    check_callback_url(url, frozenset(allowed), SECRET)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://hooks.test:8080/x", {"hooks.test"}),  # another service of an allowed host
        ("http://hooks.test:443/x", {"hooks.test"}),  # https's port, asked over http
        ("https://hooks.test:80/x", {"hooks.test"}),
        ("http://hooks.test:8082/x", {"hooks.test:8081"}),
        ("http://other.test:8081/x", {"hooks.test:*"}),
        ("http://[::1]:8081/x", {"[::1]", "::1"}),
    ],
)
def test_a_bare_host_allows_no_other_port(url: str, allowed: set[str]) -> None:
    with pytest.raises(CallbackNotAllowed, match="GOSANDBOX_CALLBACK_HOSTS"):
        check_callback_url(url, frozenset(allowed), SECRET)


def test_the_api_s_own_port_is_not_a_callback_of_a_bare_host(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, callback_hosts="127.0.0.1", callback_secret=SECRET)
    with TestClient(create_app(settings, backend=FakeBackend())) as client:
        response = client.post("/submissions", json={"code": MAIN, "callback_url": "http://127.0.0.1:8080/run"})
        problem_of(response, 422, "callback-not-allowed")


# --- outcomes: delivered, or not -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once it is closed


def _outcomes(urls: list[str], allowed: str) -> list[dict[str, Any]]:
    recorded: dict[str, dict[str, Any]] = {}
    hooks = Webhooks(frozenset({allowed}), SECRET, lambda name, outcome: recorded.update({name: outcome}))
    for number, url in enumerate(urls):
        hooks.send(f"{number:032d}", url, {"id": number})
    _wait_for(recorded, len(urls))
    hooks.close()
    return [recorded[f"{number:032d}"] for number in range(len(urls))]


def _wait_for(recorded: dict[str, Any], count: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(recorded) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in outcome.items() if key not in ("url", "finished_at")}


def test_a_closed_port_and_an_open_one_leave_the_same_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "_BACKOFF_S", (0.0, 0.0, 0.0))
    with receiving([500]) as open_port, receiving([404]) as other_open_port:
        urls = [f"http://127.0.0.1:{_closed_port()}/hook", open_port.url, other_open_port.url]
        closed, answered_500, answered_404 = _outcomes(urls, "127.0.0.1:*")
    assert _comparable(closed) == _comparable(answered_500) == _comparable(answered_404)
    assert (closed["delivered"], closed["status_code"], closed["error"]) == (False, None, NOT_DELIVERED)
    assert len(open_port.received) == webhooks.RETRIES + 1  # it was called: only the record says nothing


def test_a_refusal_by_the_process_that_ends_the_job_says_not_delivered() -> None:
    [refused] = _outcomes(["http://127.0.0.1:9/hook"], "127.0.0.1:8081")
    assert _comparable(refused) == {"delivered": False, "attempts": 0, "status_code": None, "error": NOT_DELIVERED}


# --- a receiver that never answers -----------------------------------------------------------------


@contextmanager
def silent_receiver() -> Iterator[int]:
    """Accepts connections and reads the requests, never answers: the port it listens on."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def test_a_receiver_that_never_answers_delays_no_other_hosts_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: four callbacks to a silent receiver held every delivery thread; another's waited ~23 s."""
    monkeypatch.setattr(webhooks, "_BACKOFF_S", (0.0, 0.0, 0.0))
    monkeypatch.setattr(webhooks, "_TIMEOUT", httpx.Timeout(0.5))  # the test's patience: 2 s a delivery
    delivered_at: dict[str, float] = {}
    with silent_receiver() as silent_port, receiving([200]) as fast:
        allowed = frozenset({f"localhost:{silent_port}", fast.host})
        hooks = Webhooks(
            allowed, SECRET, lambda submission_id, _: delivered_at.update({submission_id: time.monotonic()})
        )
        started = time.monotonic()
        for number in range(4):
            hooks.send(f"{number:032d}", f"http://localhost:{silent_port}/hook", {"slow": number})
        hooks.send("f" * 32, fast.url, {"fast": True})
        fast.wait_for("/hook", timeout_s=10)
        _wait_for(delivered_at, 5)
        hooks.close()
    assert delivered_at["f" * 32] - started < 1.5, "the callback to another host went out at once"
    slow = sorted(delivered_at[f"{number:032d}"] - started for number in range(4))
    assert slow[1] < slow[2], "at most two deliveries to one host are under way; the next ones wait their turn"


# --- the signature covers a timestamp --------------------------------------------------------------


def test_the_signature_covers_a_fresh_timestamp() -> None:
    with receiving([200]) as receiver:
        before = int(time.time())
        outcome = webhooks.deliver(receiver.url, {"id": "x"}, SECRET)
        [callback] = receiver.received
    assert outcome["delivered"] is True
    assert before <= int(callback.timestamp) <= time.time()
    signed = callback.timestamp.encode() + b"." + callback.body
    assert callback.signature == "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert callback.signature != "sha256=" + hmac.new(SECRET.encode(), callback.body, hashlib.sha256).hexdigest()
    later = str(int(callback.timestamp) + 600)  # the same body replayed later: its old signature does not fit
    assert webhooks.signature(callback.body, SECRET, later) != callback.signature

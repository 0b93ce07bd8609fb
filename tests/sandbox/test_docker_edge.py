"""The real ``gosandbox serve`` against stalled, slow and surplus connections, on loopback only."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from support.docker_helpers import TEST_INSTANCE, Server, serving

HEAD_TIMEOUT_S = 2.0
CAP = 2100
HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'


def _connect(server: Server, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _answer_then_close(sock: socket.socket, deadline: float) -> bytes | None:
    """What the server wrote before closing, or None if it still holds the connection at ``deadline``."""
    answer = b""
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = sock.recv(4096)
            if not data:
                return answer
            answer += data
    except TimeoutError:
        return None
    except OSError:
        return answer
    finally:
        sock.close()


def _healthz_s(server: Server) -> float:
    started = time.monotonic()
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    return time.monotonic() - started


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"GOSANDBOX_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S), "GOSANDBOX_MAX_CONNECTIONS": str(CAP)}
    with serving(tmp_path_factory.mktemp("edge"), f"{TEST_INSTANCE}-edge", env) as server:
        yield server


def test_stalled_request_heads_are_closed_while_the_server_serves(server: Server) -> None:
    log_before = server.log.stat().st_size
    stalled = [_connect(server, b"POST /run HTTP/1.1\r\nHost: x\r\n") for _ in range(2000)]
    all_open = time.monotonic()
    assert max(_healthz_s(server) for _ in range(5)) < 0.5
    ran = httpx.post(f"{server.url}/run", content=HELLO, headers={"Content-Type": "text/plain"}, timeout=60)
    assert (ran.status_code, ran.json()["stdout"]) == (200, "hello\n")
    answers = [_answer_then_close(sock, all_open + HEAD_TIMEOUT_S + 2) for sock in stalled]
    assert answers.count(None) == 0, "every stalled connection is closed by the server"
    assert {answer[:30] for answer in answers if answer} == {b"HTTP/1.1 408 Request Timeout\r\n"}
    assert server.log.stat().st_size - log_before < 100_000


def test_a_body_that_trickles_in_is_cut_off(server: Server) -> None:
    head = b"POST /run HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 50000\r\n\r\n"
    sock = _connect(server, head)
    started, answer = time.monotonic(), b""
    while time.monotonic() - started < HEAD_TIMEOUT_S + 5:
        try:
            sock.sendall(b"x" * 10)  # 33 bytes a second: far below the minimum rate
            sock.settimeout(0.3)
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:  # the server closed it
            break
        if not data:
            break
        answer += data
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert time.monotonic() - started < HEAD_TIMEOUT_S + 2.5
    time.sleep(0.2)
    assert "Traceback" not in server.stderr()


def test_connections_beyond_the_cap_are_refused_at_once_and_the_server_recovers(server: Server) -> None:
    flood = [_connect(server) for _ in range(CAP + 50)]
    deadline = time.monotonic() + 0.5  # well within the head timeout: the ones let in are still waiting
    refused = [_answer_then_close(sock, deadline) for sock in flood[CAP - 20 :]]
    turned_away = [answer for answer in refused if answer]
    assert len(turned_away) >= 40, "the connections past the cap are answered 503 and closed at once"
    assert {answer.split(b"\r\n")[0] for answer in turned_away} == {b"HTTP/1.1 503 Service Unavailable"}
    for sock in flood:
        sock.close()
    deadline = time.monotonic() + 0.5
    while True:  # the server recovers the moment they close
        try:
            assert httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
            break
        except (httpx.HTTPError, AssertionError):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert "Traceback" not in server.stderr()


def test_repeated_warnings_are_logged_a_few_times_a_minute(server: Server) -> None:
    before = server.stderr().count("Invalid HTTP request received.")
    for _ in range(30):
        _answer_then_close(_connect(server, b"NOT HTTP AT ALL\r\n\r\n"), time.monotonic() + 2)
    logged = server.stderr().count("Invalid HTTP request received.") - before
    assert 1 <= logged <= 5

"""SingleFlight: one call per key in flight, its result or its error shared with the callers that waited."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from gosandbox.single_flight import SingleFlight

WAIT_S = 10.0


def _callers(flights: SingleFlight[int], call: object, count: int, started: threading.Barrier) -> list[object]:
    """``count`` threads call ``do("k", call)`` once all have started; each one's answer, or its error."""

    def one(_: int) -> object:
        started.wait(WAIT_S)
        try:
            return flights.do("k", call)  # type: ignore[arg-type]
        except RuntimeError as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_callers_of_one_key_share_the_call_that_runs() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls, release, started = [], threading.Event(), threading.Barrier(4)

    def call() -> int:
        calls.append(1)
        release.wait(WAIT_S)  # held until every caller has arrived
        return 7

    threading.Timer(0.2, release.set).start()
    answers = _callers(flights, call, 4, started)
    assert len(calls) == 1
    assert sorted(answers, key=lambda a: a[1]) == [(7, False), (7, True), (7, True), (7, True)]  # type: ignore[index]
    assert flights.do("k", lambda: 8) == (8, False)  # nothing in flight now: a new call


def test_an_error_reaches_every_waiting_caller_and_the_key_is_free_after() -> None:
    flights: SingleFlight[int] = SingleFlight()
    release = threading.Event()

    def call() -> int:
        release.wait(WAIT_S)
        raise RuntimeError("build service down")

    threading.Timer(0.2, release.set).start()
    answers = _callers(flights, call, 3, threading.Barrier(3))
    assert [str(a) for a in answers] == ["build service down"] * 3
    assert flights.do("k", lambda: 1) == (1, False)


def test_other_keys_do_not_wait() -> None:
    flights: SingleFlight[int] = SingleFlight()
    held = threading.Event()

    def slow() -> int:
        held.wait(WAIT_S)
        return 1

    waiting = threading.Thread(target=flights.do, args=("a", slow))
    waiting.start()
    try:
        assert flights.do("b", lambda: 2) == (2, False)
    finally:
        held.set()
        waiting.join(WAIT_S)
    with pytest.raises(ZeroDivisionError):
        flights.do("a", lambda: 1 // 0)

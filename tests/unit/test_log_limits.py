"""Repeated warnings are let through a few times a minute; the next one says how many were dropped."""

from __future__ import annotations

import logging

from gosandbox.logs import RepeatLimiter


def _record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", level, __file__, 1, msg, None, None)


def test_the_same_warning_passes_a_few_times_a_minute_then_says_how_many_were_dropped() -> None:
    now = [0.0]
    limiter = RepeatLimiter(3, clock=lambda: now[0])
    passed = [limiter.filter(_record("Invalid HTTP request received.")) for _ in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert limiter.filter(_record("another warning"))  # each message counts on its own
    assert limiter.filter(_record("quiet", logging.INFO))  # below warning: never limited
    now[0] = 61.0
    record = _record("Invalid HTTP request received.")
    assert limiter.filter(record)
    assert record.getMessage() == "Invalid HTTP request received. [7 more like this were not logged]"

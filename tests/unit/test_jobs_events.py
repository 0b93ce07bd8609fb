"""A job's event stream in one process: MemoryEventLog, OutputEvents, events_after."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gosandbox.jobs.events import RESULT, Event, MemoryEventLog, OutputEvents, events_after

WAIT_S = 10.0
EVENTS = [Event("1", "state", {"state": "queued"}), Event("2", "stdout", {"text": "hi"}), Event("3", RESULT, {})]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def follow(
    log: MemoryEventLog,
    submission_id: str,
    after: str | None = None,
    idle_s: float = WAIT_S,
    then: Callable[[], None] | None = None,
) -> list[Event | None]:
    """What ``follow`` yields, up to its end or its first quiet spell; ``then()`` runs after the first item."""

    async def collect() -> list[Event | None]:
        items: list[Event | None] = []
        async for item in log.follow(submission_id, after, idle_s):
            items.append(item)
            if item is None:
                break
            if then is not None and len(items) == 1:
                threading.Thread(target=then).start()
        return items

    return asyncio.run(asyncio.wait_for(collect(), WAIT_S + 1))


def names(items: Sequence[Event | None]) -> list[str | None]:
    return [None if item is None else item.name for item in items]


# --- events_after -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_id", "expected"),
    [(None, EVENTS), ("1", EVENTS[1:]), ("2", EVENTS[2:]), ("3", []), ("99", EVENTS), ("", EVENTS)],
)
def test_events_after_an_id(last_id: str | None, expected: list[Event]) -> None:
    assert events_after(EVENTS, last_id) == expected


def test_events_after_in_no_events() -> None:
    assert events_after([], "1") == []


def test_an_event_survives_its_json_form() -> None:
    assert [Event.from_json(e.to_json()) for e in EVENTS] == EVENTS


# --- MemoryEventLog -----------------------------------------------------------------------------


def test_ids_count_up_per_job() -> None:
    log = MemoryEventLog()
    log.publish("a", "state", {"state": "queued"})
    log.publish("b", "state", {"state": "queued"})
    log.publish("a", "stdout", {"text": "x"})
    assert [(e.id, e.name) for e in log.history("a")] == [("1", "state"), ("2", "stdout")]
    assert [e.id for e in log.history("b")] == ["1"]
    assert log.history("unknown") == []


def test_follow_replays_then_ends_at_the_result() -> None:
    log = MemoryEventLog()
    for name in ("state", "stdout", RESULT, "stderr"):  # nothing after the result is followed
        log.publish("a", name, {})
    assert names(follow(log, "a")) == ["state", "stdout", RESULT]


def test_follow_after_an_id_skips_what_came_before() -> None:
    log = MemoryEventLog()
    for name in ("state", "stdout", "stderr", RESULT):
        log.publish("a", name, {})
    assert [item.id for item in follow(log, "a", after="2") if item] == ["3", "4"]


def test_follow_yields_none_after_a_quiet_spell() -> None:
    log = MemoryEventLog()
    log.publish("a", "state", {})
    started = time.monotonic()
    assert names(follow(log, "a", idle_s=0.05)) == ["state", None]
    assert time.monotonic() - started < WAIT_S / 2


def test_follow_wakes_when_another_thread_publishes() -> None:
    log = MemoryEventLog()
    log.publish("a", "state", {})

    def publish_while_waited_for() -> None:
        wait_until(lambda: bool(log._streams["a"].waiters))  # the follower sleeps on its wake-up
        log.publish("a", "stdout", {"text": "late"})
        log.publish("a", RESULT, {})

    started = time.monotonic()
    assert names(follow(log, "a", then=publish_while_waited_for)) == ["state", "stdout", RESULT]
    assert time.monotonic() - started < WAIT_S / 2  # woken, not timed out


def test_a_finished_stream_is_kept_for_keep_s() -> None:
    log = MemoryEventLog(keep_s=60)
    log.publish("a", RESULT, {})
    log.publish("b", "state", {})
    assert names(log.history("a")) == [RESULT]


def test_a_finished_stream_is_dropped_after_keep_s() -> None:
    log = MemoryEventLog(keep_s=0)
    log.publish("a", RESULT, {})
    log.publish("running", "state", {})

    def dropped() -> bool:
        log.publish("b", "state", {})  # publishing is when old streams go
        return log.history("a") == []

    wait_until(dropped)
    assert names(log.history("running")) == ["state"]  # an unfinished one stays


def test_close_forgets_every_stream() -> None:
    log = MemoryEventLog()
    log.publish("a", "state", {})
    log.close()
    assert log.history("a") == []


# --- OutputEvents -------------------------------------------------------------------------------


class Published:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        assert set(data) == {"text"}
        with self._lock:
            self.events.append((name, data["text"]))


def test_close_publishes_everything_written() -> None:
    published = Published()
    output = OutputEvents(published, gather_s=0.001)
    for i in range(50):
        output.write("stdout", f"{i},".encode())
    output.write("stderr", b"done")
    output.close()
    assert "".join(text for name, text in published.events if name == "stdout") == "".join(f"{i}," for i in range(50))
    assert published.events[-1] == ("stderr", "done")


def test_chunks_written_together_are_one_event_and_streams_keep_their_order() -> None:
    published = Published()
    output = OutputEvents(published, gather_s=0.5)
    for name, data in (("stdout", b"a"), ("stdout", b"b"), ("stderr", b"c"), ("stdout", b"d")):
        output.write(name, data)
    output.close()
    assert published.events == [("stdout", "ab"), ("stderr", "c"), ("stdout", "d")]


def test_a_chunk_is_published_before_close() -> None:
    published = Published()
    output = OutputEvents(published, gather_s=0.001)
    try:
        output.write("stdout", b"live\n")
        wait_until(lambda: published.events == [("stdout", "live\n")])
    finally:
        output.close()
    assert published.events == [("stdout", "live\n")]


def test_utf8_split_across_chunks_is_joined() -> None:
    published = Published()
    output = OutputEvents(published)
    euro = "€".encode()
    output.write("stdout", euro[:2])
    output.write("stderr", b"e")
    output.write("stdout", euro[2:])
    output.close()
    assert sorted(published.events) == [("stderr", "e"), ("stdout", "€")]


def test_invalid_or_unfinished_utf8_becomes_replacement_characters() -> None:
    published = Published()
    output = OutputEvents(published)
    output.write("stdout", b"a\xffb")
    output.write("stderr", "€".encode()[:2])  # cut short by the program's end
    output.close()
    assert "".join(text for name, text in published.events if name == "stdout") == "a\ufffdb"
    assert [text for name, text in published.events if name == "stderr"] == ["\ufffd"]


def test_no_output_no_events() -> None:
    published = Published()
    output = OutputEvents(published)
    output.write("stdout", b"")
    output.close()
    assert published.events == []

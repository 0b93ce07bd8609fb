"""host_ids.py: each slot's host id range, slots taken on the whole host, ranges refused where in use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gosandbox.backends import host_ids
from gosandbox.backends.host_ids import HOST_ID_BASE, IDS_PER_SANDBOX, host_range, slot_range


def test_each_slot_is_a_range_of_its_own_above_every_ordinary_and_subordinate_id() -> None:
    assert slot_range(0).host_base == HOST_ID_BASE == 1_879_048_192
    assert slot_range(1).host_base - slot_range(0).host_base == IDS_PER_SANDBOX == 65536
    assert slot_range(0).host_id(10002) == HOST_ID_BASE + 10002
    assert host_range().start > 600_100_000  # useradd's subordinate ids end there by default
    assert host_range().stop <= 2**31  # below what some tools read as negative


def test_a_slot_is_held_until_its_descriptor_closes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(host_ids, "LOCK_DIR", tmp_path / "userns")
    first, first_fd = host_ids.take_slot()
    second, second_fd = host_ids.take_slot()  # the same process: flock is per open file, so this is another slot
    assert (first, second) == (0, 1)
    os.close(first_fd)
    again, again_fd = host_ids.take_slot()
    assert again == 0
    for fd in (second_fd, again_fd):
        os.close(fd)


def test_subordinate_ranges_that_overlap_are_named(tmp_path: Path) -> None:
    table = tmp_path / "subuid"
    table.write_text(
        f"alice:100000:65536\nbob:{HOST_ID_BASE - 10}:11\ncarol:{HOST_ID_BASE - 10}:10\nbroken line\n", encoding="utf-8"
    )
    assert host_ids._subordinate_overlaps(table, host_range()) == [f"bob:{HOST_ID_BASE - 10}:11"]
    assert host_ids._subordinate_overlaps(tmp_path / "absent", host_range()) == []

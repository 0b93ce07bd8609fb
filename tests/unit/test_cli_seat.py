"""Which instance a command on this host runs as: the shared ``-cli`` one, whose builder is kept for the next
command, while no other command holds it; else one of its own, so that starting it removes nothing in use."""

from __future__ import annotations

import os
from pathlib import Path

from gosandbox.cli.local import Seat, seat
from gosandbox.settings import Settings


def test_one_command_at_a_time_keeps_the_builder_of_the_shared_instance(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", instance="ada")
    with seat(settings) as first:
        assert first == Seat("ada-cli", keeps_builder=True)
        with seat(settings) as second:  # a command started while the first runs
            assert second == Seat(f"ada-cli-{os.getpid()}", keeps_builder=False)
    with seat(settings) as later:  # the first one ended: the shared instance is free again
        assert later == Seat("ada-cli", keeps_builder=True)

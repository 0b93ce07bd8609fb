"""The floor benchmark runs end to end (one build per path, no server): every path builds both programs, and
the CPU it reports is the work's, not zero (a probe that read nothing would make every ratio meaningless)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gosandbox.bench.floor import BUILDER_PATHS, PROGRAMS, print_floor, run_floor

ARGS = argparse.Namespace(runs=1, clients=1, floor_duration_s=0.2, floor_no_server=True)


def test_every_path_builds_every_program(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = run_floor(ARGS, tmp_path / "floor")
    paths = ["native `go build -trimpath`", *BUILDER_PATHS]
    assert sorted((r.path, r.program) for r in rows) == sorted((p, q) for p in paths for q in PROGRAMS)
    assert all(r.row.errors == 0 and len(r.row.samples_s) == 1 for r in rows)
    assert all(r.cpu_s > 0 and r.runs_per_s > 0 for r in rows), [(r.path, r.cpu_s, r.runs_per_s) for r in rows]
    print_floor(rows, ARGS)
    table = capsys.readouterr().out
    assert table.count("\n| ") == len(rows) + 1  # the header and a line per row

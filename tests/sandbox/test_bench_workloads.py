"""The benchmark's workload suite: its programs on the host's copy of the pinned toolchain, and its table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gosandbox.bench.workload_table import Measured, geometric_mean, print_table, ratio
from gosandbox.bench.workloads import Candidate, host_toolchain, measure, native_builds, workloads


def test_ratios_allow_50_ms_and_the_score_is_their_geometric_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert ratio(0.3, 0.05) == pytest.approx(3.0)
    assert geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    native = {"a": 0.05, "b": 0.15}
    fast = Measured(seconds={"a": 0.2, "b": 0.2}, hello_run_s=0.05, hello_total_s=0.08)
    slow = Measured(seconds={"a": 0.8, "b": 3.2}, errors=["b: HTTP 200 timeout"], left=1)
    broken = Measured(seconds={"a": 0.1, "b": math.nan}, errors=["b: HTTP 503"] * 3)
    print_table(native, {"fast": fast, "slow": slow, "gone": Measured(unavailable="exited"), "broken": broken}, 3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[5] == "| a | 0.050 | 0.200 (2.0x) | 0.800 (8.0x) | unavailable | 0.100 (1.0x) |"
    assert lines[6] == "| b | 0.150 | 0.200 (1.0x) | 3.200 (16.0x) | unavailable | failed |"
    assert lines[7] == (
        "| **geometric mean of ratios** (rule: ≤ 3x) | - | **1.41x** ✓ | **11.31x** ✗ | unavailable: exited "
        "| - (a workload failed every run) |"
    )
    assert lines[8] == "| hello world, cached binary: run / whole request | - | 50 / 80 ms | 0 / 0 ms | - | 0 / 0 ms |"
    assert lines[9] == "| failed runs; sandboxes left | - | 0; 0 | 1; 1 | - | 3; 0 |"
    assert lines[10] == "- slow: b: HTTP 200 timeout"


def test_every_workload_builds_and_passes_natively(tmp_path: Path) -> None:
    goroot = host_toolchain(tmp_path)
    suite = workloads(goroot)
    assert len(suite) == 7
    assert [w.test for w in suite].count(True) == 1
    native = native_builds(suite, goroot, tmp_path)
    for workload in suite:
        native.sample(workload.name)  # raises if the program fails
    assert set(native.medians()) == {w.name for w in suite}


def test_a_candidate_that_cannot_start_is_a_column_saying_so(tmp_path: Path) -> None:
    env = {"GOSANDBOX_BACKEND": "oci", "GOSANDBOX_RUNTIME": "runsc", "GOSANDBOX_RUNSC_PATH": str(tmp_path / "none")}
    measured = measure(Candidate("missing", env), [], tmp_path, 1, native_builds([], Path("/"), tmp_path))
    assert measured.unavailable is not None
    assert measured.seconds == {}

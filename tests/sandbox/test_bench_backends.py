"""The benchmark's backends comparison: rows that say why a combination cannot run, target checks, CPU parts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gosandbox.bench.backends import Combination, Measured, measure, unavailable_reason
from gosandbox.bench.cpu import CpuParts, snapshot
from gosandbox.bench.scenarios import Row
from gosandbox.bench.table import print_comparison

ARGS = argparse.Namespace(runs=1, clients=1, duration_s=1.0, origin_runs=1)


def _combination(name: str, p50_s: tuple[float, float], runs_per_s: tuple[float, float]) -> Combination:
    combination = Combination(name)
    for key, p50, rate in (("new", p50_s[0], runs_per_s[0]), ("cached", p50_s[1], runs_per_s[1])):
        combination.scenarios[key] = Measured(Row(key, [p50]), CpuParts(machine=0.5), 1.0)
        combination.scenarios[f"tp-{key}"] = Measured(Row(key, [p50], runs_per_s=rate), CpuParts(), 1.0)
    return combination


def _origin() -> Measured:
    return Measured(Row("origin", [10.0]), CpuParts(machine=20.0), 10.0)


def test_a_runtime_that_is_not_installed_is_a_row_saying_so(tmp_path: Path) -> None:
    combination = measure("oci", "no-such-runtime", tmp_path, ARGS)
    expected = "the OCI backend needs root" if os.geteuid() != 0 else "no-such-runtime is not installed"
    assert combination.unavailable == expected
    assert list(tmp_path.iterdir()) == []  # no server was started for it


@pytest.mark.docker
def test_a_runtime_the_engine_does_not_know_is_unavailable() -> None:
    assert unavailable_reason("docker", "no-such-runtime") == "no-such-runtime is not registered with the Docker engine"
    assert unavailable_reason("docker", "runc") is None


def test_targets_are_checked_against_docker_runc_of_the_same_run(capsys: pytest.CaptureFixture[str]) -> None:
    base = _combination("docker+runc", (1.0, 0.2), (2.0, 3.0))
    oci_runc = _combination("oci+runc", (0.7, 0.18), (4.0, 3.0))
    print_comparison([base, Combination("docker+runsc", unavailable="runsc is not installed"), oci_runc],
                     _origin(), 8, 20.0)  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[4] == "| docker+runsc | unavailable: runsc is not installed | - | - | - | - | - | - | - | - | - |"
    assert lines[5] == (
        "| oci+runc | 0.700 | 0.180 | 0.500 | 0.500 | 4.0 | 3.0 | 0 of 4 | 0.70x/0.90x | 2.00x/1.00x "
        "| new: p50≤0.8x ✓, runs/s≥1.8x ✓; cached: p50≤0.8x ✗, runs/s≥1.8x ✗ |"
    )
    assert lines[6].startswith("| origin: cold `go run` in a fresh `docker run` | 10.000 | - | 20.000 |")
    assert "| 10.00x/- |" in lines[6]


def test_no_ratio_when_docker_runc_could_not_run(capsys: pytest.CaptureFixture[str]) -> None:
    base = Combination("docker+runc", unavailable="the Docker engine does not answer")
    print_comparison([base, _combination("oci+runc", (0.7, 0.1), (4.0, 9.0))], _origin(), 8, 20.0)
    row = capsys.readouterr().out.splitlines()[4]
    assert row.endswith("| -/- | -/- | - |")


def test_the_server_tree_counts_the_cpu_of_the_children_it_waited_for() -> None:
    before = snapshot(os.getpid(), [], "no-such-instance")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    subprocess.run([sys.executable, "-c", burn], check=True, timeout=30)
    spent = snapshot(os.getpid(), [], "no-such-instance").minus(before)
    assert spent.server >= 0.25
    assert spent.machine >= 0.25  # the whole machine saw it too
    assert spent.builder == spent.sandboxes == 0.0

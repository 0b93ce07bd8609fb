"""The workload suite's table (:mod:`gosandbox.bench.workloads`): a row per workload, a column per candidate.

A workload's ratio is ``sandbox / (native + 50 ms)``: a sandbox's own start is allowed. A candidate's score is
the geometric mean of its ratios, against the rule's bound of 3x (the issue that chose the default runtime).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

#: A sandbox's own start, allowed before a workload's ratio to its native run counts.
ALLOWANCE_S = 0.05
#: The rule's bound on the geometric mean of the ratios.
MOST_RATIO = 3.0


@dataclass
class Measured:
    """Seconds per workload (median over runs); hello world's run and whole request; failures."""

    seconds: dict[str, float] = field(default_factory=dict)
    hello_run_s: float = 0.0
    hello_total_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    unavailable: str | None = None
    left: int = 0


def ratio(sandbox_s: float, native_s: float) -> float:
    return sandbox_s / (native_s + ALLOWANCE_S)


def geometric_mean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


def print_table(native: dict[str, float], results: dict[str, Measured], runs: int) -> None:
    """One row per workload, a column per candidate: median seconds and the ratio to native (+50 ms)."""
    names = list(results)
    print(f"\n### Workloads: `timings_ms.run`, medians of {runs}; ratio = sandbox / (native + 50 ms)\n")
    print("| workload | native s | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for workload, native_s in native.items():
        cells = [_cell(results[name], workload, native_s) for name in names]
        print(f"| {workload} | {native_s:.3f} | " + " | ".join(cells) + " |")
    means = [_mean(results[name], native) for name in names]
    print("| **geometric mean of ratios** (rule: ≤ 3x) | - | " + " | ".join(means) + " |")
    hello = [_hello_cell(results[name]) for name in names]
    print("| hello world, cached binary: run / whole request | - | " + " | ".join(hello) + " |")
    print("| failed runs; sandboxes left | - | " + " | ".join(_health(results[name]) for name in names) + " |")
    for name in names:
        for error in results[name].errors[:5]:
            print(f"- {name}: {error}")


def _cell(measured: Measured, workload: str, native_s: float) -> str:
    if measured.unavailable is not None:
        return "unavailable"
    seconds = measured.seconds[workload]
    return "failed" if math.isnan(seconds) else f"{seconds:.3f} ({ratio(seconds, native_s):.1f}x)"


def _mean(measured: Measured, native: dict[str, float]) -> str:
    if measured.unavailable is not None:
        return f"unavailable: {measured.unavailable}"
    if any(math.isnan(measured.seconds[w]) for w in native):
        return "- (a workload failed every run)"
    mean = geometric_mean([ratio(measured.seconds[w], native_s) for w, native_s in native.items()])
    return f"**{mean:.2f}x** {'✓' if mean <= MOST_RATIO else '✗'}"


def _hello_cell(measured: Measured) -> str:
    if measured.unavailable is not None:
        return "-"
    return f"{measured.hello_run_s * 1000:.0f} / {measured.hello_total_s * 1000:.0f} ms"


def _health(measured: Measured) -> str:
    return "-" if measured.unavailable is not None else f"{len(measured.errors)}; {measured.left}"

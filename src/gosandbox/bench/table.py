"""The backends comparison as markdown: one row per combination and the origin, then where the CPU went."""

from __future__ import annotations

import statistics

from gosandbox.bench.backends import TARGETS, Combination, Measured

_SCENARIOS = {"new": "new code, sequential", "cached": "same source, sequential",
              "tp-new": "new code, 8 clients", "tp-cached": "same source, 8 clients"}  # fmt: skip


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def _check(ok: bool) -> str:
    return "✓" if ok else "✗"


def _targets(combination: Combination, base: Combination) -> str:
    """Each target of this combination, checked for new code and for the cached binary."""
    if combination.name not in TARGETS or base.unavailable is not None:
        return "-"
    most_p50, least_rate = TARGETS[combination.name]
    parts = []
    for key, label in (("new", "new"), ("cached", "cached")):
        p50_ok = combination.p50(key) <= most_p50 * base.p50(key)
        rate_ok = combination.rate(f"tp-{key}") >= least_rate * base.rate(f"tp-{key}")
        parts.append(f"{label}: p50≤{most_p50}x {_check(p50_ok)}, runs/s≥{least_rate}x {_check(rate_ok)}")
    return "; ".join(parts)


def _row(combination: Combination, base: Combination) -> list[str]:
    if combination.unavailable is not None:
        return [combination.name, f"unavailable: {combination.unavailable}", *["-"] * 9]
    s = combination.scenarios
    errors = sum(m.row.errors for m in s.values())
    runs = sum(len(m.row.samples_s) for m in s.values())
    usable = base.unavailable is None
    p50_ratios = "/".join(_ratio(combination.p50(k), base.p50(k) if usable else 0) for k in ("new", "cached"))
    rate_ratios = "/".join(_ratio(combination.rate(k), base.rate(k) if usable else 0) for k in ("tp-new", "tp-cached"))
    return [
        combination.name, f"{combination.p50('new'):.3f}", f"{combination.p50('cached'):.3f}",
        f"{s['new'].cpu.machine:.3f}", f"{s['cached'].cpu.machine:.3f}",
        f"{combination.rate('tp-new'):.1f}", f"{combination.rate('tp-cached'):.1f}",
        f"{errors} of {runs}", p50_ratios, rate_ratios, _targets(combination, base),
    ]  # fmt: skip


def _origin_row(origin: Measured, base: Combination) -> list[str]:
    p50 = statistics.median(origin.row.samples_s)
    ratio = _ratio(p50, base.p50("new")) if base.unavailable is None else "-"
    return ["origin: cold `go run` in a fresh `docker run`", f"{p50:.3f}", "-", f"{origin.cpu.machine:.3f}", "-",
            "-", "-", f"{origin.row.errors} of {len(origin.row.samples_s)}", f"{ratio}/-", "-", "-"]  # fmt: skip


def print_comparison(combinations: list[Combination], origin: Measured, clients: int, duration_s: float) -> None:
    base = combinations[0]
    print(f"\n| backend+runtime | p50 s, new code | p50 s, same source | CPU-s/run, new code | CPU-s/run, same source "
          f"| runs/s, new code, {clients} clients, {duration_s:.0f} s | runs/s, same source, {clients} clients "
          f"| errors | p50 / docker+runc (new/same) | runs/s / docker+runc (new/same) | targets |")  # fmt: skip
    print("|" + "---|" * 11)
    for combination in combinations:
        print("| " + " | ".join(_row(combination, base)) + " |")
    print("| " + " | ".join(_origin_row(origin, base)) + " |")


def print_cpu_parts(combinations: list[Combination]) -> None:
    """CPU-seconds per run by part, each scenario; the background is an estimate from an idle sample."""
    print("\nCPU-seconds per run, by part (whole machine; rest = machine less the named parts; background = the")
    print("machine's load sampled for 2 s with no run of ours, times the scenario's wall time, per run):\n")
    print(
        "| backend+runtime | scenario | machine | builder | engine (all of it) | server tree (+ OCI runtime) "
        "| of which OCI run sandboxes | bench client | rest | background est. |"
    )
    print("|" + "---|" * 10)
    for combination in combinations:
        for key, measured in combination.scenarios.items():
            cpu, runs = measured.cpu, max(len(measured.row.samples_s), 1)
            background = combination.background_cpu_s_per_s * measured.wall_s / runs
            cells = [combination.name, _SCENARIOS[key], *(f"{v:.3f}" for v in (cpu.machine, cpu.builder,
                     cpu.engine, cpu.server, cpu.sandboxes, cpu.client, cpu.rest, background))]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
    left = sum(c.left for c in combinations)
    print(f"\nsandboxes left after the comparison's servers stopped: {left}")

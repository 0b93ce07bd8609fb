"""resolve_limits, clamp_to_caps and Bounds: defaults, overrides, the [minimum, cap] range, an API key's caps;
the settings' defaults and caps are the ones decided here."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from gosandbox.errors import InvalidRequest, LimitOutOfRange
from gosandbox.limits import (
    DEFAULT_CAPS,
    DEFAULTS,
    MINIMUMS,
    Bounds,
    Limits,
    cap_of,
    clamp_to_caps,
    resolve_limits,
)
from gosandbox.settings import Settings

#: The default caps with 2 CPUs (DEFAULT_CAPS has the machine's count).
CAPS = Limits(wall_s=30.0, memory_mb=1024, cpus=2.0, pids=256, output_bytes=1024 * 1024)


def test_no_overrides_gives_the_defaults() -> None:
    defaults = Limits(wall_s=2.0, memory_mb=64, cpus=0.5, pids=32, output_bytes=1000)
    assert resolve_limits({}, defaults, CAPS) == defaults


def test_library_defaults() -> None:
    assert Limits() == Limits(wall_s=5.0, memory_mb=128, cpus=1.0, pids=64, output_bytes=64 * 1024)


def test_overrides_replace_only_the_named_fields() -> None:
    resolved = resolve_limits({"wall_s": 2.5, "memory_mb": 256}, Limits(), CAPS)
    assert resolved == Limits(wall_s=2.5, memory_mb=256, cpus=1.0, pids=64, output_bytes=64 * 1024)


def test_every_field_can_be_overridden() -> None:
    requested: dict[str, float | int] = {"wall_s": 1.0, "memory_mb": 32, "cpus": 2.0, "pids": 8, "output_bytes": 10}
    assert resolve_limits(requested, Limits(), CAPS) == Limits(1.0, 32, 2.0, 8, 10)


def test_the_bounds_themselves_are_allowed() -> None:
    assert resolve_limits({"memory_mb": MINIMUMS.memory_mb}, Limits(), CAPS).memory_mb == MINIMUMS.memory_mb
    assert resolve_limits({"memory_mb": CAPS.memory_mb}, Limits(), CAPS).memory_mb == 1024
    assert resolve_limits({"wall_s": MINIMUMS.wall_s}, Limits(), CAPS).wall_s == MINIMUMS.wall_s


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("wall_s", 0.05),
        ("wall_s", 0),
        ("wall_s", -1.0),
        ("memory_mb", 15),
        ("cpus", 0.0),
        ("pids", 7),
        ("output_bytes", 0),
        ("output_bytes", -5),
    ],
)
def test_below_the_minimum_is_refused(name: str, value: float) -> None:
    with pytest.raises(LimitOutOfRange, match=rf"limits\.{name}=.* outside the allowed range"):
        resolve_limits({name: value}, Limits(), CAPS)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("wall_s", 30.5),
        ("memory_mb", 1025),
        ("cpus", 2.5),
        ("pids", 257),
        ("output_bytes", 1024 * 1024 + 1),
        ("wall_s", float("inf")),
        ("wall_s", float("nan")),
    ],
)
def test_above_the_cap_or_not_a_number_is_refused(name: str, value: float) -> None:
    with pytest.raises(LimitOutOfRange, match=rf"limits\.{name}="):
        resolve_limits({name: value}, Limits(), CAPS)


def test_the_cap_comes_from_the_caps_argument() -> None:
    caps = Limits(wall_s=3.0, memory_mb=256, cpus=1.0, pids=64, output_bytes=4096)
    with pytest.raises(LimitOutOfRange, match=r"\[0\.1, 3\.0\]"):
        resolve_limits({"wall_s": 3.5}, Limits(), caps)
    assert resolve_limits({"wall_s": 3.5}, Limits(), CAPS).wall_s == 3.5


def test_unknown_names_are_refused_and_listed() -> None:
    with pytest.raises(LimitOutOfRange, match=r"unknown limit\(s\): disk_mb, swap_mb; known: cpu_ms, cpus, memory_mb"):
        resolve_limits({"swap_mb": 1, "disk_mb": 1, "wall_s": 1.0}, Limits(), CAPS)


def test_limit_out_of_range_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        resolve_limits({"pids": 0}, Limits(), CAPS)


def test_defaults_above_the_caps_are_clamped() -> None:
    defaults = Limits(wall_s=60.0, memory_mb=4096, cpus=8.0, pids=1000, output_bytes=10**9)
    assert resolve_limits({}, defaults, CAPS) == CAPS


def test_clamp_to_caps_lowers_only_what_exceeds() -> None:
    limits = Limits(wall_s=60.0, memory_mb=64, cpus=4.0, pids=8, output_bytes=100)
    clamped = clamp_to_caps(limits, CAPS)
    assert clamped == Limits(wall_s=30.0, memory_mb=64, cpus=2.0, pids=8, output_bytes=100)


def test_clamp_to_caps_keeps_limits_within_caps() -> None:
    assert clamp_to_caps(Limits(), CAPS) == Limits()


def test_the_default_caps_are_the_documented_ones_with_the_machines_cpus() -> None:
    assert Limits(30.0, 1024, float(os.cpu_count() or 1), 256, 1024 * 1024) == DEFAULT_CAPS


def test_the_settings_start_from_these_defaults_and_caps(tmp_path: Path) -> None:
    bounds = Settings(state_dir=tmp_path).limit_bounds()
    assert (bounds.defaults, bounds.caps) == (DEFAULTS, DEFAULT_CAPS)


def test_settings_with_a_default_above_its_cap_give_the_cap_everywhere(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, default_wall_s=60.0, max_wall_s=10.0)
    assert settings.default_limits().wall_s == settings.limits_for({}).wall_s == 10.0


def test_bounds_lowered_by_a_keys_caps_lower_the_defaults_with_them() -> None:
    bounds = Bounds.of(DEFAULTS, CAPS).lowered(wall_s=2.0, memory_mb=None)
    assert (bounds.caps.wall_s, bounds.caps.memory_mb, bounds.defaults.wall_s) == (2.0, 1024, 2.0)
    assert bounds.resolve({"memory_mb": 512}) == Limits(2.0, 512, 1.0, 64, 64 * 1024)
    with pytest.raises(LimitOutOfRange, match=r"\[0\.1, 2\.0\]"):
        bounds.resolve({"wall_s": 3.0})


def test_a_keys_cap_above_the_servers_changes_nothing() -> None:
    assert Bounds.of(DEFAULTS, CAPS).lowered(wall_s=300.0, memory_mb=1 << 20) == Bounds.of(DEFAULTS, CAPS)


def test_a_cpu_time_limit_is_optional_and_unset_by_default() -> None:
    assert Limits().cpu_ms is None
    assert resolve_limits({}, Limits(), CAPS).cpu_ms is None
    assert resolve_limits({"cpu_ms": None}, Limits(), CAPS).cpu_ms is None  # null: not asked
    assert resolve_limits({"cpu_ms": 2000}, Limits(), CAPS).cpu_ms == 2000


def test_the_cpu_time_cap_is_what_wall_time_and_cpus_allow_unless_set() -> None:
    assert cap_of(CAPS, "cpu_ms") == 60_000  # 30 s on 2 CPUs
    assert resolve_limits({"cpu_ms": 60_000}, Limits(), CAPS).cpu_ms == 60_000
    with pytest.raises(LimitOutOfRange, match=r"limits\.cpu_ms=60001 is outside the allowed range \[10, 60000\]"):
        resolve_limits({"cpu_ms": 60_001}, Limits(), CAPS)
    with pytest.raises(LimitOutOfRange, match=r"limits\.cpu_ms=9 is outside"):
        resolve_limits({"cpu_ms": 9}, Limits(), CAPS)
    with pytest.raises(LimitOutOfRange, match=r"\[10, 500\]"):
        resolve_limits({"cpu_ms": 501}, Limits(), replace(CAPS, cpu_ms=500))


def test_a_default_cpu_time_limit_above_its_cap_is_lowered_and_an_unset_one_stays_unset() -> None:
    assert clamp_to_caps(Limits(cpu_ms=90_000), CAPS).cpu_ms == 60_000
    assert clamp_to_caps(Limits(), CAPS).cpu_ms is None
    assert Bounds.of(Limits(cpu_ms=5_000), CAPS).lowered(wall_s=2.0).defaults.cpu_ms == 4_000  # 2 s on 2 CPUs

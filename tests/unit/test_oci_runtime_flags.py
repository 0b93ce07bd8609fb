"""The OCI runtime's binary and gVisor platform: chosen by settings, spelled on every runsc command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gosandbox.backends.oci.runtime import OciRuntime, find_runtime
from gosandbox.errors import BackendUnavailable
from gosandbox.settings import Settings
from gosandbox.wiring import oci_config_from_settings


def _fake_runsc(tmp_path: Path, platforms: str) -> str:
    """A stand-in runsc whose ``flags`` lists ``platforms`` as a real one does (on stderr)."""
    script = tmp_path / "runsc"
    script.write_text(f"#!/bin/sh\necho '  -platform string' >&2\necho '    \tuse: {platforms}' >&2\n")
    script.chmod(0o755)
    return str(script)


def test_runsc_commands_name_the_platform(tmp_path: Path) -> None:
    runtime = OciRuntime("runsc", "/usr/bin/runsc", tmp_path, platform="systrap")
    assert runtime.control_command() == [
        "/usr/bin/runsc", "--root", str(tmp_path), "--network=none", "--oci-seccomp", "--platform=systrap",
    ]  # fmt: skip


def test_runc_commands_have_no_platform(tmp_path: Path) -> None:
    runtime = OciRuntime("runc", "/usr/sbin/runc", tmp_path)
    assert runtime.control_command() == ["/usr/sbin/runc", "--root", str(tmp_path)]


def test_auto_is_systrap_where_the_binary_has_it(tmp_path: Path) -> None:
    binary = _fake_runsc(tmp_path, "systrap (default), ptrace, kvm")
    assert find_runtime("runsc", tmp_path / "root", binary).platform == "systrap"


def test_auto_is_the_binarys_own_default_where_it_has_no_systrap(tmp_path: Path) -> None:
    binary = _fake_runsc(tmp_path, "ptrace (default), kvm")
    runtime = find_runtime("runsc", tmp_path / "root", binary)
    assert runtime.platform is None
    assert not any(flag.startswith("--platform") for flag in runtime.control_command())


def test_an_explicit_platform_is_kept(tmp_path: Path) -> None:
    binary = _fake_runsc(tmp_path, "systrap (default), ptrace, kvm")
    assert find_runtime("runsc", tmp_path / "root", binary, "ptrace").platform == "ptrace"


def test_a_missing_binary_or_an_unknown_platform_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="not installed at"):
        find_runtime("runsc", tmp_path / "root", str(tmp_path / "nowhere"))
    with pytest.raises(BackendUnavailable, match="no platform"):
        find_runtime("runsc", tmp_path / "root", _fake_runsc(tmp_path, "ptrace"), "fast")


def test_settings_reach_the_backends_config(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, backend="oci", runtime="runsc", runsc_path="/opt/runsc",
                        runsc_platform="ptrace")  # fmt: skip
    config = oci_config_from_settings(settings)
    assert (config.runsc_binary, config.runsc_platform) == ("/opt/runsc", "ptrace")
    assert oci_config_from_settings(Settings(state_dir=tmp_path)).runsc_platform == "auto"

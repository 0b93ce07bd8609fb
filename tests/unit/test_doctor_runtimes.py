"""doctor's runtime checks: which backend and runtime are in force, which runtimes are usable, how to add one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gosandbox.cli.runtimes import DAEMON_JSON_SNIPPET, docker_runtime_checks, oci_runtime_checks, runtime_in_force
from gosandbox.defaults import WHY_PREFERRED
from gosandbox.settings import Settings

RUNC_ONLY = {"Runtimes": {"runc": {"path": "runc"}, "io.containerd.runc.v2": {"path": "runc"}}}
BOTH = {"Runtimes": {**RUNC_ONLY["Runtimes"], "runsc": {"path": "/usr/bin/runsc"}}}


class FakeContainers:
    """Records the probes; a runtime in ``failing`` fails to start, as the engine would say."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.failing, self.probed = failing, []  # type: ignore[var-annotated]

    def run(self, image: str, command: list[str], **options: Any) -> bytes:
        self.probed.append((image, command, options["runtime"], options["network_mode"], options["remove"]))
        if options["runtime"] in self.failing:
            raise RuntimeError("500 Server Error: OCI runtime create failed\nmore")
        return b""


class FakeClient:
    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.containers = FakeContainers(failing)


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(state_dir=tmp_path, **values)


def checks(client: FakeClient, info: dict[str, Any], config: Settings) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.detail) for c in docker_runtime_checks(client, info, config)}


def test_in_force_names_the_backend_the_runtime_what_isolates_and_why(tmp_path: Path) -> None:
    assert runtime_in_force(settings(tmp_path)).startswith("backend docker with runtime runc: host kernel;")
    default = runtime_in_force(settings(tmp_path, backend="oci", runtime="runc"))
    assert default.startswith("backend oci with runtime runc: host kernel; namespaces, a user namespace of its own")
    assert default.endswith(WHY_PREFERRED)
    assert "oci+runc 1.66x" in default
    stricter = runtime_in_force(settings(tmp_path, backend="oci", runtime="runsc"))
    assert stricter.startswith("backend oci with runtime runsc: gVisor's own kernel")
    assert "the stricter choice" in stricter


def test_each_registered_runtime_is_probed(tmp_path: Path) -> None:
    client = FakeClient()
    found = checks(client, BOTH, settings(tmp_path, runtime="runsc"))
    assert found == {
        "docker runtime runc": (True, "registered, a probe sandbox started"),
        "docker runtime runsc": (True, "registered, a probe sandbox started"),
    }
    assert [(p[1], p[2], p[3], p[4]) for p in client.containers.probed] == [
        (["--lease=1"], "runc", "none", True),
        (["--lease=1"], "runsc", "none", True),
    ]


def test_an_unregistered_runsc_says_how_to_add_it_and_fails_only_when_in_force(tmp_path: Path) -> None:
    found = checks(FakeClient(), RUNC_ONLY, settings(tmp_path))
    ok, detail = found["docker runtime runsc"]
    assert ok is True  # runc is in force: doctor passes
    assert "apt-get install runsc" in detail
    assert DAEMON_JSON_SNIPPET in detail
    assert checks(FakeClient(), RUNC_ONLY, settings(tmp_path, runtime="runsc"))["docker runtime runsc"][0] is False
    # The OCI backend with runsc does not need it registered with the engine.
    assert checks(FakeClient(), RUNC_ONLY, settings(tmp_path, backend="oci", runtime="runsc"))["docker runtime runsc"][
        0
    ]


def test_a_failing_probe_fails_the_runtime_in_force_only(tmp_path: Path) -> None:
    failing = FakeClient(failing=("runsc",))
    ok, detail = checks(failing, BOTH, settings(tmp_path, runtime="runsc"))["docker runtime runsc"]
    assert (ok, detail) == (False, "registered, but a probe failed: 500 Server Error: OCI runtime create failed")
    assert checks(FakeClient(failing=("runsc",)), BOTH, settings(tmp_path))["docker runtime runsc"][0] is True


@pytest.mark.parametrize(("euid", "ok"), [(0, True), (1000, False)])
def test_the_oci_backend_needs_the_binary_and_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, euid: int, ok: bool
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: euid)
    monkeypatch.setattr("shutil.which", lambda name, path=None: "/usr/bin/runsc" if name == "runsc" else None)
    found = {c.name: c for c in oci_runtime_checks(settings(tmp_path, backend="oci", runtime="runsc"))}
    assert found["oci runtime runsc"].ok is ok
    assert found["oci runtime runsc"].detail.startswith("/usr/bin/runsc")
    assert ("needs root" in found["oci runtime runsc"].detail) is not ok
    assert (found["oci runtime runc"].ok, found["oci runtime runc"].detail) == (
        True,
        "not installed; to add it: apt-get install runc",
    )
    runc_in_force = {c.name: c.ok for c in oci_runtime_checks(settings(tmp_path, backend="oci", runtime="runc"))}
    assert runc_in_force["oci runtime runc"] is False

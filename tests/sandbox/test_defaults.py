"""``auto`` (the default backend and runtime): the measured choice where the OCI backend can run, else Docker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gosandbox import defaults
from gosandbox.defaults import AUTO, FALLBACK, PREFERRED, choose
from gosandbox.settings import Settings
from support.docker_helpers import TEST_INSTANCE, serving


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A pretend machine: whether we are root, and which runtimes are installed."""
    state: dict[str, object] = {"root": True, "installed": {"runc", "runsc"}}
    monkeypatch.setattr("gosandbox.defaults.os.geteuid", lambda: 0 if state["root"] else 1000)
    monkeypatch.setattr(defaults, "runtime_installed", lambda name: name in state["installed"])  # type: ignore[operator]
    return state


def test_root_with_the_preferred_runtime_gets_the_preferred_combination(machine: dict[str, object]) -> None:
    assert choose(AUTO, AUTO) == PREFERRED


def test_without_root_or_without_the_runtime_docker_with_runc(machine: dict[str, object]) -> None:
    machine["root"] = False
    assert choose(AUTO, AUTO) == FALLBACK == ("docker", "runc")
    machine["root"], machine["installed"] = True, {"runc"}
    assert choose(AUTO, AUTO) == (("oci", "runc") if PREFERRED[1] == "runc" else FALLBACK)


def test_a_named_runtime_takes_the_oci_backend_only_where_it_can_run(machine: dict[str, object]) -> None:
    assert choose(AUTO, "runc") == ("oci", "runc")
    machine["root"] = False
    assert choose(AUTO, "runsc") == ("docker", "runsc")


def test_a_named_backend_keeps_it_and_docker_defaults_to_runc(machine: dict[str, object]) -> None:
    assert choose("docker", AUTO) == ("docker", "runc")
    assert choose("oci", AUTO) == ("oci", PREFERRED[1])
    machine["installed"] = {"runc"}
    assert choose("oci", AUTO) == ("oci", "runc")
    assert choose("docker", "runsc") == ("docker", "runsc")


def test_settings_never_hold_auto(machine: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOSANDBOX_BACKEND", raising=False)
    settings = Settings()
    assert (settings.backend, settings.runtime) == PREFERRED
    monkeypatch.setenv("GOSANDBOX_BACKEND", "docker")
    assert (Settings().backend, Settings().runtime) == ("docker", "runc")
    with pytest.raises(ValueError, match="runtime"):
        Settings(runtime="crun")


@pytest.mark.docker
def test_a_server_left_at_auto_runs_on_this_machines_default(tmp_path: Path) -> None:
    expected = choose(AUTO, AUTO)
    with serving(tmp_path, f"{TEST_INSTANCE}-auto", {"GOSANDBOX_BACKEND": AUTO, "GOSANDBOX_RUNTIME": AUTO}) as server:
        version = httpx.get(f"{server.url}/version", timeout=10).json()
        assert (version["backend"], version["runtime"]) == expected
        code = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("default") }\n'
        result = httpx.post(f"{server.url}/run", json={"code": code}, timeout=60).json()
        assert (result["status"], result["stdout"]) == ("ok", "default\n"), result

"""The four ways a run sandbox is made (backend x runtime), and in-process apps on each, opened when first asked for.

The isolation tests and the hostile corpus run under every combination (tests/test_hostile.py,
tests/test_docker_run.py, tests/test_docker_seccomp.py). :data:`DEFAULT_COMBINATION` is the one a server
gets without settings: it comes from gosandbox.defaults (what ``auto`` becomes on this machine), so the
combination that gets the whole corpus moves with the default.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from fastapi.testclient import TestClient

from gosandbox.app import create_app
from gosandbox.backends.base import Backend
from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.reaper import list_sandboxes
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.defaults import AUTO, choose
from gosandbox.errors import GosandboxError
from gosandbox.settings import Settings
from gosandbox.wiring import make_backend
from support.docker_helpers import TEST_INSTANCE, docker_settings


class Combination(NamedTuple):
    backend: str  # docker, oci
    runtime: str  # runc, runsc

    def __str__(self) -> str:
        return f"{self.backend}+{self.runtime}"

    @property
    def gvisor(self) -> bool:
        return self.runtime == "runsc"

    @property
    def instance(self) -> str:
        """The instance label of this combination's app (docker+runc is the ``live`` app's, TEST_INSTANCE).

        Not the ``oci_backend`` fixture's (``-oci-<runtime>``): one instance's start reaps all its sandboxes.
        """
        return TEST_INSTANCE if self == DOCKER_RUNC else f"{TEST_INSTANCE}-app-{self.backend}-{self.runtime}"


DOCKER_RUNC = Combination("docker", "runc")
COMBINATIONS = tuple(Combination(backend, runtime) for backend in ("docker", "oci") for runtime in ("runc", "runsc"))
#: The combination that gets the whole hostile corpus; the others get its security-critical subset.
DEFAULT_COMBINATION = Combination(*choose(AUTO, AUTO))  # what a server without GOSANDBOX_* settings runs
OTHER_COMBINATIONS = tuple(c for c in COMBINATIONS if c != DEFAULT_COMBINATION)

#: Parametrizes a test over the four combinations; its ``sandbox_app``/``sandbox_backend`` follow.
every_combination = pytest.mark.parametrize("combination", COMBINATIONS, ids=str)


@dataclass
class _Opened:
    backend: Backend
    client: TestClient


class SandboxApps:
    """One in-process app per combination but docker+runc (the ``live`` fixture's), each with its own instance
    label and state directory, opened when a test first asks for it and closed by :meth:`close`."""

    def __init__(self, state_root: Path) -> None:
        self.state_root = state_root
        self._opened: dict[Combination, _Opened] = {}
        self._exits = contextlib.ExitStack()

    def backend(self, combination: Combination) -> Backend:
        return self._open(combination).backend

    def client(self, combination: Combination) -> TestClient:
        return self._open(combination).client

    def _open(self, combination: Combination) -> _Opened:
        if combination not in self._opened:
            settings = self._settings(combination)
            try:
                backend = make_backend(settings)
                backend.check_ready()
            except GosandboxError as exc:
                pytest.fail(f"{combination} cannot run here: {exc} ({exc.hint}); run `make setup` as root")
            self._exits.callback(_assert_nothing_left, backend, combination)
            client = self._exits.enter_context(TestClient(create_app(settings, backend=backend)))  # closes backend
            self._opened[combination] = _Opened(backend, client)
        return self._opened[combination]

    def _settings(self, combination: Combination) -> Settings:
        state_dir = self.state_root / f"{combination.backend}-{combination.runtime}"
        state_dir.mkdir(parents=True, exist_ok=True)
        return docker_settings(state_dir, instance=combination.instance, **combination._asdict())

    def close(self) -> None:
        """Close every opened app (each closes its backend), then check that it left nothing behind."""
        self._exits.close()
        self._opened.clear()


def _assert_nothing_left(backend: Backend, combination: Combination) -> None:
    """After the app closed its backend: no container, no runtime state entry, no bundle of its instance."""
    if isinstance(backend, OciBackend):
        assert backend.runtime.list_ids() == [], f"{combination}: OCI sandboxes left behind"
        assert not backend.runtime.root.exists(), f"{combination}: the runtime's state root is left behind"
        bundles = backend.config.state_dir / "bundles" / combination.instance
        assert not bundles.exists() or not any(bundles.iterdir()), f"{combination}: bundles left behind"
    else:
        assert isinstance(backend, DockerBackend)
    left = list_sandboxes(connect(), combination.instance)  # the OCI backend's builder is a Docker sandbox
    assert left == [], f"{combination}: containers left behind: {left}"

"""Fixtures for the real-Docker tests: one server app on the real engine, labelled and cleaned up."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import docker.errors
import pytest
from fastapi.testclient import TestClient

# The tests of the Docker backend's own machinery (containers, labels, its pool, the engine going away) and every
# server a test starts without naming a backend run on the Docker backend; the default combination, whatever
# gosandbox.defaults chooses, gets the whole hostile corpus by name (tests/combinations.py), and tests/test_defaults.py
# starts a server on the real default.
os.environ.setdefault("GOSANDBOX_BACKEND", "docker")
# Starlette's TestClient sends "Host: testserver": the in-process apps of every folder answer to it too (a server's
# default is the loopback names only; tests of that default set GOSANDBOX_PUBLIC_HOSTS themselves).
os.environ.setdefault("GOSANDBOX_PUBLIC_HOSTS", "testserver")

from gosandbox.app import create_app
from gosandbox.backends.base import Backend
from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.images import build_images, image_names
from gosandbox.backends.oci.backend import OciBackend
from gosandbox.errors import GosandboxError
from gosandbox.wiring import config_from_settings, oci_config_from_settings
from support.combinations import DEFAULT_COMBINATION, DOCKER_RUNC, Combination, SandboxApps
from support.docker_helpers import ALT, TEST_INSTANCE, docker_settings, sandboxes_of_this_test_run

#: A test's marker follows from its folder (the markers are described in pyproject.toml).
FOLDER_MARKERS = {"unit": "unit", "app": "app", "sandbox": "docker", "cluster": "cluster", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDER_MARKERS:
            item.add_marker(FOLDER_MARKERS[folder])


@pytest.fixture(scope="session")
def docker_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerBackend]:
    """The real Docker backend; errors (not skips) when the engine or the images are missing."""
    settings = docker_settings(tmp_path_factory.mktemp("state"))
    backend = DockerBackend(config_from_settings(settings))
    try:
        backend.check_ready()
    except GosandboxError as exc:
        pytest.fail(f"real-Docker tests need the engine and images: {exc} ({exc.hint}); run `make setup`")
    yield backend
    backend.close()
    # After the whole session, no container of any instance of this test run may remain.
    left = sandboxes_of_this_test_run()
    for container_id in left:
        backend.client.api.remove_container(container_id, force=True, v=True)
    assert not left, f"containers left behind by the tests: {left}"


@pytest.fixture(scope="session", params=["runc", "runsc"])
def oci_backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OciBackend]:
    """The real OCI backend, once per runtime (runc, runsc); errors (not skips) when it cannot run here."""
    runtime = str(request.param)
    settings = docker_settings(tmp_path_factory.mktemp(f"oci-{runtime}"), instance=f"{TEST_INSTANCE}-oci-{runtime}",
                               backend="oci", runtime=runtime)  # fmt: skip
    try:
        backend = OciBackend(oci_config_from_settings(settings))
        backend.check_ready()
    except GosandboxError as exc:
        pytest.fail(f"OCI tests need root, {runtime}, the engine and images: {exc} ({exc.hint}); run `make setup`")
    yield backend
    backend.close()
    assert backend.runtime.list_ids() == [], "OCI sandboxes left behind by the tests"


@pytest.fixture(scope="session")
def live(docker_backend: DockerBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The HTTP app in-process, on the real Docker backend."""
    settings = docker_settings(docker_backend.config.state_dir)
    with TestClient(create_app(settings, backend=docker_backend)) as client:
        yield client


@pytest.fixture(scope="session")
def sandbox_apps(docker_backend: DockerBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxApps]:
    """Apps on the other combinations, each opened when first asked for (after docker_backend: its check runs last)."""
    apps = SandboxApps(tmp_path_factory.mktemp("combinations"))
    yield apps
    apps.close()


@pytest.fixture
def combination() -> Combination:
    """The backend and runtime of ``sandbox_app``; tests parametrize it (combinations.every_combination)."""
    return DEFAULT_COMBINATION


@pytest.fixture
def sandbox_app(combination: Combination, request: pytest.FixtureRequest, sandbox_apps: SandboxApps) -> TestClient:
    """The HTTP app in-process on ``combination`` (docker+runc: the ``live`` app)."""
    if combination == DOCKER_RUNC:
        client: TestClient = request.getfixturevalue("live")
        return client
    return sandbox_apps.client(combination)


@pytest.fixture
def sandbox_backend(combination: Combination, request: pytest.FixtureRequest, sandbox_apps: SandboxApps) -> Backend:
    """The backend under ``sandbox_app`` (docker+runc: ``docker_backend``)."""
    if combination == DOCKER_RUNC:
        backend: Backend = request.getfixturevalue("docker_backend")
        return backend
    return sandbox_apps.backend(combination)


@pytest.fixture  # built for each test that asks: another test's image build prunes tags it does not know
def alt_toolchain() -> Iterator[dict[str, str]]:
    """A second toolchain whose base image is the default builder (any image with Go at /usr/local/go works)."""
    toolchains = {ALT: image_names().builder}
    client = connect(timeout_s=900)
    build_images(client, toolchains=toolchains)
    yield toolchains
    alt = image_names(toolchains[ALT], go_version=ALT).builder
    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(alt)
        client.volumes.get(f"gosandbox-gocache-{alt.rsplit('-', 1)[-1]}").remove()

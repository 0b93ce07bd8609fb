"""Several toolchains side by side: one builder image per toolchain, a request field chooses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from docker_helpers import TEST_INSTANCE, docker_settings
from gosandbox.backends.docker.backend import DockerBackend, config_from_settings, connect
from gosandbox.backends.docker.images import build_images, image_names
from gosandbox.errors import UnknownToolchain
from gosandbox.models import Status
from gosandbox.runner import Runner
from gosandbox.source import make_spec

pytestmark = pytest.mark.docker

ALT = "go1.27-alt"
PROGRAM = 'package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\nfunc main() { fmt.Println(runtime.Version()) }\n'


@pytest.fixture(scope="module")
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


def test_a_request_chooses_its_toolchain(tmp_path: Path, alt_toolchain: dict[str, str]) -> None:
    settings = docker_settings(tmp_path, instance=f"{TEST_INSTANCE}-tc", extra_toolchains=f"{ALT}={alt_toolchain[ALT]}")
    backend = DockerBackend(config_from_settings(settings, pool_size=0))
    try:
        backend.start()
        backend.check_ready()
        runner = Runner(backend)
        assert backend.go_versions == [backend.go_version, ALT]
        default = runner.run(make_spec({"main.go": PROGRAM}))
        chosen = runner.run(make_spec({"main.go": PROGRAM}, go_version=ALT))
        with pytest.raises(UnknownToolchain):
            runner.run(make_spec({"main.go": PROGRAM}, go_version="go1.0"))
    finally:
        backend.close()
    assert (default.status, default.go_version) == (Status.OK, backend.go_version)
    assert (chosen.status, chosen.go_version) == (Status.OK, ALT)
    assert chosen.stdout == default.stdout == f"{backend.go_version}\n"  # the alt image carries the same Go

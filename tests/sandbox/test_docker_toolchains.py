"""Several toolchains side by side: one builder image per toolchain, a request field chooses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.errors import UnknownToolchain
from gosandbox.models import Status
from gosandbox.runner import Runner
from gosandbox.source import make_spec
from gosandbox.wiring import config_from_settings
from support.docker_helpers import ALT, TEST_INSTANCE, docker_settings

PROGRAM = 'package main\n\nimport (\n\t"fmt"\n\t"runtime"\n)\n\nfunc main() { fmt.Println(runtime.Version()) }\n'


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

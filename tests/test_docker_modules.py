"""Third-party modules through a configured module proxy: a local directory, never the network."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docker_helpers import TEST_INSTANCE, docker_settings
from gosandbox.backends.docker.backend import DockerBackend, config_from_settings
from gosandbox.models import Status
from gosandbox.runner import Runner
from gosandbox.source import make_spec

pytestmark = pytest.mark.docker

MODULE, VERSION = "example.com/greet", "v1.0.0"
GREET = 'package greet\n\nfunc Hello(name string) string { return "hello from greet, " + name }\n'
GO_MOD = f"module example.com/app\n\ngo 1.27\n\nrequire {MODULE} {VERSION}\n"


def _main(name: str) -> str:
    imports = f'import (\n\t"fmt"\n\n\t"{MODULE}"\n)'
    return f'package main\n\n{imports}\n\nfunc main() {{ fmt.Println(greet.Hello("{name}")) }}\n'


def _write_proxy(root: Path) -> Path:
    """A directory laid out as a Go module proxy (the GOPROXY file:// protocol)."""
    versions = root / MODULE / "@v"
    versions.mkdir(parents=True)
    (versions / "list").write_text(f"{VERSION}\n")
    (versions / f"{VERSION}.info").write_text(json.dumps({"Version": VERSION, "Time": "2026-01-01T00:00:00Z"}))
    (versions / f"{VERSION}.mod").write_text(f"module {MODULE}\n\ngo 1.27\n")
    with zipfile.ZipFile(versions / f"{VERSION}.zip", "w") as archive:
        archive.writestr(f"{MODULE}@{VERSION}/go.mod", f"module {MODULE}\n\ngo 1.27\n")
        archive.writestr(f"{MODULE}@{VERSION}/greet.go", GREET)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the builder's uid reads it
    return versions / f"{VERSION}.zip"


@pytest.fixture
def proxy_runner(tmp_path: Path) -> Iterator[tuple[Runner, Path]]:
    proxy = tmp_path / "proxy"
    zip_path = _write_proxy(proxy)
    settings = docker_settings(tmp_path / "state", instance=f"{TEST_INSTANCE}-mod", goproxy=f"file://{proxy}")
    backend = DockerBackend(config_from_settings(settings, pool_size=0))
    backend.start()
    yield Runner(backend), zip_path
    backend.close()
    backend.client.api.remove_volume(backend.builders[backend.go_version].config.module_cache_volume, force=True)


def test_module_is_fetched_once_then_served_from_the_cache(proxy_runner: tuple[Runner, Path]) -> None:
    runner, zip_path = proxy_runner
    first = runner.run(make_spec({"main.go": _main("first"), "go.mod": GO_MOD}))
    assert (first.status, first.stdout) == (Status.OK, "hello from greet, first\n"), first.compile_output
    zip_path.unlink()  # the proxy loses the module: only the module cache can serve it now
    second = runner.run(make_spec({"main.go": _main("second"), "go.mod": GO_MOD}))
    assert (second.status, second.stdout) == (Status.OK, "hello from greet, second\n"), second.compile_output


def test_a_wrong_checksum_fails_clearly(proxy_runner: tuple[Runner, Path]) -> None:
    runner, _ = proxy_runner
    go_sum = f"{MODULE} {VERSION} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    result = runner.run(make_spec({"main.go": _main("x"), "go.mod": GO_MOD, "go.sum": go_sum}))
    assert result.status is Status.COMPILE_ERROR
    assert "checksum mismatch" in result.compile_output


def test_without_a_proxy_modules_are_not_fetched(tmp_path: Path) -> None:
    settings = docker_settings(tmp_path / "state", instance=f"{TEST_INSTANCE}-nomod")
    backend = DockerBackend(config_from_settings(settings, pool_size=0))
    try:
        backend.start()
        go_sum = (
            f"{MODULE} {VERSION} h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n{MODULE} {VERSION}/go.mod h1:x=\n"
        )
        result = Runner(backend).run(make_spec({"main.go": _main("x"), "go.mod": GO_MOD, "go.sum": go_sum}))
    finally:
        backend.close()
    assert result.status is Status.COMPILE_ERROR
    assert "GOPROXY=off" in result.compile_output

"""Third-party modules through a configured module proxy: a local directory, never the network."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gosandbox.backends.docker.backend import DockerBackend
from gosandbox.backends.docker.builder import MODULES_OFF_HINT, module_lookup_failed
from gosandbox.diagnostics import Diagnostic
from gosandbox.go_tools import run_tests, vet
from gosandbox.gotest import TestOptions
from gosandbox.models import Status
from gosandbox.runner import Runner
from gosandbox.source import make_spec
from gosandbox.wiring import config_from_settings
from support.docker_helpers import TEST_INSTANCE, docker_settings

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


UUID_MAIN = 'package main\n\nimport "github.com/google/uuid"\n\nfunc main() { println(uuid.NewString()) }\n'
UUID_TEST = 'package main\n\nimport "testing"\n\nfunc TestMain(t *testing.T) {}\n'
APP_MOD = "module example.com/app\n\ngo 1.27\n"
UUID_REQUIRE = APP_MOD + "\nrequire github.com/google/uuid v1.6.0\n"
UUID_SUM = (
    "github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=\n"
    "github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=\n"
)
#: Go's own words for each way of asking for the module (go.mod: none, no require, a require, a require and go.sum).
MODULE_CASES = {
    "no go.mod": ({}, "cannot find module providing package github.com/google/uuid: import lookup disabled"),
    "no require": ({"go.mod": APP_MOD}, "cannot find module providing package github.com/google/uuid"),
    "require": ({"go.mod": UUID_REQUIRE}, "missing go.sum entry for module providing package github.com/google/uuid"),
    "require and go.sum": ({"go.mod": UUID_REQUIRE, "go.sum": UUID_SUM}, "module lookup disabled by GOPROXY=off"),
}


def _outputs(runner: Runner, files: dict[str, str]) -> dict[str, tuple[Status, str, list[Diagnostic]]]:
    """What run, vet and test say of one package: status, the build's output, the diagnostics."""
    spec = make_spec(files)
    ran, vetted = runner.run(spec), vet(runner, spec)
    tested = run_tests(runner, spec, TestOptions())
    return {
        "run": (ran.status, ran.compile_output, ran.diagnostics),
        "vet": (vetted.status, vetted.output, vetted.diagnostics),
        "test": (tested.status, tested.compile_output, tested.diagnostics),
    }


@pytest.fixture(scope="module")
def modules_off(docker_backend: DockerBackend) -> Runner:
    assert docker_backend.builders[docker_backend.go_version].config.module_proxy_dir is None
    return Runner(docker_backend)


@pytest.mark.parametrize("case", MODULE_CASES)
def test_modules_off_says_so_after_gos_own_message(modules_off: Runner, case: str) -> None:
    extra, go_says = MODULE_CASES[case]
    for tool, (status, output, diagnostics) in _outputs(modules_off, {"main.go": UUID_MAIN, **extra}).items():
        assert status is Status.COMPILE_ERROR, (tool, output)
        assert go_says in output, (tool, output)
        assert output.rstrip().endswith(MODULES_OFF_HINT), (tool, output)
        assert output.count("gosandbox: ") == 1, (tool, output)
        # The position is Go's own line; the hint is advice on the server, not a finding in the sources.
        assert [(d.file, d.line, d.column) for d in diagnostics] == [("main.go", 3, 8)], (tool, diagnostics)
        assert go_says in diagnostics[0].message
        assert "gosandbox" not in diagnostics[0].message


def test_modules_off_is_not_blamed_for_a_missing_package_of_the_submission(modules_off: Runner) -> None:
    main = 'package main\n\nimport "example.com/app/nothere"\n\nfunc main() { nothere.X() }\n'
    for tool, (status, output, _) in _outputs(modules_off, {"main.go": main, "go.mod": APP_MOD}).items():
        assert status is Status.COMPILE_ERROR, (tool, output)
        assert "cannot find module providing package example.com/app/nothere" in output, (tool, output)
        assert "gosandbox: " not in output, (tool, output)


def test_a_module_the_proxy_lacks_gets_no_modules_off_hint(proxy_runner: tuple[Runner, Path]) -> None:
    runner, _ = proxy_runner
    outputs = _outputs(runner, {"main.go": UUID_MAIN, "main_test.go": UUID_TEST, "go.mod": UUID_REQUIRE})
    for tool, (status, output, _) in outputs.items():
        assert status is Status.COMPILE_ERROR, (tool, output)
        assert "reading file:///goproxy/github.com/google/uuid/@v/v1.6.0.zip" in output, (tool, output)
        assert "gosandbox: " not in output, (tool, output)


def test_module_lookup_failures_are_read_from_gos_own_lines() -> None:
    assert module_lookup_failed("go: module lookup disabled by GOPROXY=off\n", "")
    line = "main.go:3:8: github.com/x/y@v1.0.0: missing go.sum entry for go.mod file; to add it:\n"
    assert module_lookup_failed(line, APP_MOD)
    assert module_lookup_failed("./a.go:1:2: no required module provides package github.com/x/y; to add it:", APP_MOD)
    # A string of the program's quoted in a compiler message, a package of the submission's own module: no.
    quoted = './main.go:5:6: cannot use "missing go.sum entry" (untyped string constant) as int value in assignment'
    assert not module_lookup_failed(quoted, APP_MOD)
    own = "main.go:3:8: cannot find module providing package example.com/app: import lookup disabled by -mod=readonly"
    assert not module_lookup_failed(own, APP_MOD)
    assert module_lookup_failed(own.replace("example.com/app:", "example.com/apple:"), APP_MOD)

"""``gosandbox run``: one program through the library, output to our own streams."""

from __future__ import annotations

import os
import sys

from gosandbox.backends.docker.backend import DockerBackend, DockerConfig
from gosandbox.limits import resolve_limits
from gosandbox.models import Status
from gosandbox.runner import Runner
from gosandbox.settings import Settings
from gosandbox.source import make_spec

# Exit codes for verdicts that have no program exit code (as timeout(1) and shells do).
_EXIT_FOR_STATUS = {Status.COMPILE_ERROR: 2, Status.TIMEOUT: 124, Status.MEMORY_LIMIT: 137, Status.OUTPUT_LIMIT: 141}


def run_once(
    settings: Settings, files: dict[str, str], *, stdin: bytes, args: tuple[str, ...], overrides: dict[str, float | int]
) -> int:
    limits = resolve_limits(overrides, settings.default_limits(), settings.limit_caps())
    spec = make_spec(files, stdin=stdin, args=args, limits=limits)
    config = DockerConfig(
        state_dir=settings.state_dir,
        instance=f"{settings.instance}-cli-{os.getpid()}",
        base_image=settings.go_image,
        policy=settings.policy(),
        default_limits=limits,
        pool_size=0,
    )
    backend = DockerBackend(config)
    try:
        backend.check_ready()
        result = Runner(backend, build_timeout_s=settings.build_timeout_s).run(spec)
    finally:
        backend.close()
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.compile_output + result.stderr)
    if result.status is not Status.OK:
        detail = f" (exit {result.exit_code}, {result.signal})" if result.signal else ""
        sys.stderr.write(f"gosandbox: {result.status}{detail}\n")
    if result.exit_code is not None and result.status is Status.RUNTIME_ERROR:
        return result.exit_code
    return _EXIT_FOR_STATUS.get(result.status, 0)

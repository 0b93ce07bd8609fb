"""``gosandbox doctor``: what is missing and how to fix it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gosandbox.cli.checks import Check
from gosandbox.cli.runtimes import docker_runtime_checks, oci_runtime_checks, runtime_in_force
from gosandbox.errors import GosandboxError
from gosandbox.settings import Settings


def _engine_info() -> tuple[Any, dict[str, Any]]:
    from gosandbox.backends.docker.engine import connect  # noqa: PLC0415
    from gosandbox.backends.docker.errors import docker_errors  # noqa: PLC0415

    client = connect(timeout_s=10)
    with docker_errors("asking the engine for its info"):
        return client, client.info()


def _image_checks(client: Any, settings: Settings) -> Iterator[Check]:
    from gosandbox.backends.docker.images import image_exists, image_names  # noqa: PLC0415

    names = image_names(settings.go_image)
    for role, name in (("builder", names.builder), ("runner", names.runner)):
        present = image_exists(client, name)
        yield Check(
            f"{role} image",
            present,
            name if present else f"{name} is not built",
            "run `gosandbox image build` (make setup does it)",
        )


def _host_checks(settings: Settings) -> Iterator[Check]:
    state = settings.state_dir
    try:
        state.mkdir(parents=True, exist_ok=True)
        writable = os.access(state, os.W_OK)
    except OSError:
        writable = False
    yield Check("state directory", writable, str(state), f"make {state} writable or set GOSANDBOX_STATE_DIR")
    cgroup_ok = Path("/sys/fs/cgroup/memory").is_dir() or Path("/sys/fs/cgroup/cgroup.controllers").exists()
    yield Check(
        "memory cgroup readable",
        cgroup_ok,
        "needed to tell an out-of-memory kill from other kills",
        "run the server on the engine's host with /sys/fs/cgroup visible",
    )


def _job_checks(settings: Settings) -> Iterator[Check]:
    """The submission database (migrated), and the queue when one is configured."""
    from gosandbox.jobs.migrate import current_revision  # noqa: PLC0415
    from gosandbox.wiring import open_store  # noqa: PLC0415

    where = "SQLite in the state directory" if settings.database_url is None else "GOSANDBOX_DATABASE_URL"
    try:
        store = open_store(settings, migrate=False)  # a check changes nothing
        store.ping()
        yield Check("database", True, f"{where}, schema revision {current_revision(store.engine)}")
    except GosandboxError as exc:
        yield Check("database", False, f"{where}: {exc}", exc.hint)
    if settings.queue_url is not None:
        from gosandbox.jobs.redis_events import RedisEventLog  # noqa: PLC0415

        log = RedisEventLog(settings.queue_url)
        try:
            log.ping()
            yield Check("queue", True, "Redis at GOSANDBOX_QUEUE_URL answers")
        except GosandboxError as exc:
            yield Check("queue", False, str(exc), exc.hint)
        finally:
            log.close()


def run_checks(settings: Settings) -> Iterator[Check]:
    """Every check, in the order ``gosandbox doctor`` prints them: host, jobs, runtimes, engine, images."""
    yield from _host_checks(settings)
    yield from _job_checks(settings)
    yield Check("in force", True, f"{runtime_in_force(settings)} (GOSANDBOX_BACKEND, GOSANDBOX_RUNTIME)")
    yield from oci_runtime_checks(settings)
    try:
        client, info = _engine_info()
    except GosandboxError as exc:
        yield Check("docker engine", False, str(exc), exc.hint)
        return
    yield Check("docker engine", True, f"version {info.get('ServerVersion')}, cgroup v{info.get('CgroupVersion', '?')}")
    yield from docker_runtime_checks(client, info, settings)
    seccomp = any("seccomp" in str(opt) for opt in info.get("SecurityOptions", []))
    in_force = {"bundled": "gosandbox's own profile", "engine-default": "the engine's built-in default (weaker)"}
    profile = in_force.get(settings.seccomp_profile, settings.seccomp_profile)
    yield Check("seccomp", seccomp, f"profile in force: {profile}", "use an engine built with seccomp support")
    yield from _image_checks(client, settings)

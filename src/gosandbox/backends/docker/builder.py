"""The long-lived builder sandbox: receives builds through ``docker exec``, never runs user code.

Each build gets a directory of its own under the state directory, bind-mounted at
``/builds``. The Go standard library is pre-built in a cache volume seeded from the image,
so a hello world compiles in about 0.1 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from gosandbox import metrics
from gosandbox.backends.base import BuildJob, BuildOutcome
from gosandbox.backends.docker.errors import docker_errors
from gosandbox.backends.docker.images import AGENT
from gosandbox.backends.docker.options import SandboxShape, container_options
from gosandbox.errors import SandboxFailure
from gosandbox.gotest import module_path
from gosandbox.policy import BUILDER_UID, Policy
from gosandbox.toolchain import (
    ELF_MAGIC,
    EXPLAIN_OUTPUT_BYTES,
    EXPLAIN_RECORDS,
    OUTPUT_CUT,
    Tool,
    go_command,
    not_a_main_package,
)

logger = logging.getLogger(__name__)

MAX_COMPILE_OUTPUT_BYTES = 64 * 1024
MAX_BINARY_BYTES = 256 * 1024 * 1024
#: The most -json record bytes an EXPLAIN build returns (the records of a 10 000-line program take a few MB).
MAX_RECORD_BYTES = 32 * 1024 * 1024
MAX_RECORD_FILES = 1024
#: 128 + SIGKILL: what an exec reports for a process the kernel or we killed.
KILLED_EXIT = 137
#: A digest of the builder's container options: a builder kept for the next process is adopted only by one that
#: would start the very same builder (image name, limits, mounts, environment, labels, policy).
CONFIG_LABEL = "gosandbox.builder-config"

# A build's package directory, absolute or (as go vet shortens it) from the package directory of this build: the
# go command may replay output it cached for the same sources built in another directory (go vet -trimpath).
_BUILD_SOURCES = re.compile(r"(?:/builds/|\.\./\.\./)[0-9a-f]{32}/src/")

#: Added to a build's output when Go could not look up a module because this server has no module proxy.
MODULES_OFF_HINT = (
    "gosandbox: this server has modules off (GOSANDBOX_GOPROXY=off): only the standard library and the "
    "submission's own packages can be imported; the operator can set GOSANDBOX_GOPROXY=file:///dir to a module mirror"
)

# The go command's own lines (after a position or "go: ", perhaps a module@version) when it needed a module it
# may not fetch: GOPROXY=off and -mod=readonly (cmd/go/internal/modload/import.go, modfetch/repo.go).
_MODULE_LOOKUP_FAILED = re.compile(
    r"^(?:[^\s:]+:\d+(?::\d+)?|go): (?:\S+@\S+: )?"
    r"(?:cannot find module providing package (?P<package>\S+): import lookup disabled by -mod="
    r"|no required module provides package (?P<required>[^\s;:]+)"
    r"|missing go\.sum entry"
    r"|module lookup disabled by GOPROXY=off)",
    re.MULTILINE,
)


def module_lookup_failed(output: str, go_mod: str) -> bool:
    """Whether Go's ``output`` says a package needs a module it could not look up.

    A missing package inside the submission's own module (``go_mod``) is a missing directory, not a module.
    """
    main_module = module_path(go_mod)
    for match in _MODULE_LOOKUP_FAILED.finditer(output):
        package = match["package"] or match["required"]
        if not package or not main_module or (package != main_module and not package.startswith(main_module + "/")):
            return True
    return False


@dataclass(frozen=True)
class BuilderConfig:
    image: str
    labels: dict[str, str]
    builds_dir: Path
    cache_volume: str
    memory_mb: int = 2048
    cpus: float = 2.0
    pids: int = 512
    tmpfs_mb: int = 1024
    #: A host directory laid out as a Go module proxy, mounted read-only; None: GOPROXY=off.
    module_proxy_dir: Path | None = None
    module_cache_volume: str = "gosandbox-gomodcache"

    def environment(self) -> dict[str, str]:
        """Module settings over the image's defaults (GOPROXY=off, -mod=readonly)."""
        if self.module_proxy_dir is None:
            return {}
        # -mod=mod lets the go command add missing requirements and go.sum lines from the proxy;
        # a go.sum line the caller sent is still verified against what the proxy serves.
        return {"GOPROXY": "file:///goproxy", "GOFLAGS": "-mod=mod", "GOSUMDB": "off", "GOMODCACHE": "/gomodcache"}


class Builder:
    def __init__(self, client: docker.DockerClient, config: BuilderConfig, policy: Policy) -> None:
        self.client, self.config, self.policy = client, config, policy
        self._lock = threading.Lock()
        self._container_id: str | None = None

    def _shape(self) -> SandboxShape:
        c = self.config
        return SandboxShape(
            image=c.image,
            command=[AGENT, "init"],
            user=f"{BUILDER_UID}:{BUILDER_UID}",
            memory_mb=c.memory_mb,
            cpus=c.cpus,
            pids=c.pids,
            tmpfs_mb=c.tmpfs_mb,
            labels={**c.labels, "gosandbox.role": "builder"},
            binds={str(c.module_proxy_dir): "/goproxy"} if c.module_proxy_dir else {},
            writable_binds={str(c.builds_dir): "/builds"},
            volumes={
                c.cache_volume: "/cache",
                **({c.module_cache_volume: "/gomodcache"} if c.module_proxy_dir else {}),
            },
            environment=c.environment(),
        )

    def _options(self) -> dict[str, Any]:
        """The builder's container options, labelled with their own digest (:data:`CONFIG_LABEL`)."""
        options = container_options(self._shape(), self.policy)
        digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return options | {"labels": {**options["labels"], CONFIG_LABEL: digest}}

    @property
    def current_id(self) -> str | None:
        """The builder's container id, once it has one (started or adopted)."""
        return self._container_id

    def marker(self, container_id: str) -> Path:
        """A file beside the builds, named after the builder that mounts their directory: it goes when the directory
        does, so a kept builder whose ``/builds`` is no longer this directory (removed, made again) is not adopted."""
        return self.config.builds_dir / f".builder-{container_id}"

    def adopt(self, container: dict[str, Any]) -> bool:
        """Take over ``container`` (as the engine lists it) if it is this builder as this process would start it,
        running, on the image the name stands for now; whether it did."""
        labels = container.get("Labels") or {}
        if self._container_id is not None or container.get("State") != "running":
            return False
        if not self.marker(str(container["Id"])).exists():
            return False
        if labels.get(CONFIG_LABEL) != self._options()["labels"][CONFIG_LABEL]:
            return False
        with docker_errors("inspecting the builder image"):
            if container.get("ImageID") != self.client.api.inspect_image(self.config.image)["Id"]:
                return False  # the same name, rebuilt since
        self._container_id = str(container["Id"])
        logger.info("builder sandbox %s adopted", self._container_id[:12])
        return True

    def container_id(self) -> str:
        """The running builder's id; (re)start it when it is absent or stopped."""
        with self._lock:
            if self._container_id and self._is_running(self._container_id):
                return self._container_id
            if self._container_id is not None:
                metrics.builder_restarted()  # it stopped (killed, the engine restarted): a new one takes over
            self.stop()
            with docker_errors("starting the builder sandbox"):
                container = self.client.containers.run(**self._options())
            self._container_id = str(container.id)
            self.marker(self._container_id).touch()
            metrics.sandbox_created("builder")
            logger.info("builder sandbox %s started", container.short_id)
            return self._container_id

    def _is_running(self, container_id: str) -> bool:
        with docker_errors("inspecting the builder sandbox"):
            try:
                state: dict[str, Any] = self.client.api.inspect_container(container_id)["State"]
            except docker.errors.NotFound:
                return False
        return bool(state.get("Running"))

    def stop(self) -> None:
        if self._container_id is None:
            return
        with docker_errors("removing the builder sandbox"), contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(self._container_id, force=True)
            metrics.sandbox_removed("builder")
        self.marker(self._container_id).unlink(missing_ok=True)
        self._container_id = None

    def build(self, job: BuildJob) -> BuildOutcome:
        build_id = uuid.uuid4().hex
        host_dir = self.config.builds_dir / build_id
        try:
            # Only gofmt -w and go.sum updates (with a module proxy) write into the package.
            writable = job.tool is Tool.FMT or self.config.module_proxy_dir is not None
            _write_sources(host_dir, job.files, writable=writable)
            return self._run_tool(build_id, host_dir, job)
        finally:
            shutil.rmtree(host_dir, ignore_errors=True)

    def _run_tool(self, build_id: str, host_dir: Path, job: BuildJob) -> BuildOutcome:
        container_id = self.container_id()
        inside = f"/builds/{build_id}"
        tool = go_command(job.tool, f"{inside}/out/prog", cover=job.cover, fuzz=job.fuzz, assembly=job.assembly)
        command = [AGENT, "build", str(int(job.timeout_s * 1000)), *tool]
        cap = EXPLAIN_OUTPUT_BYTES if job.tool is Tool.EXPLAIN else MAX_COMPILE_OUTPUT_BYTES
        started = time.monotonic()
        with docker_errors("running the toolchain in the builder sandbox"):
            exec_id = self.client.api.exec_create(container_id, command, workdir=f"{inside}/src", user=f"{BUILDER_UID}")
            output = _read_capped(self.client.api.exec_start(exec_id, stream=True), cap)
            exit_code = self.client.api.exec_inspect(exec_id)["ExitCode"]
        duration = time.monotonic() - started
        text = _BUILD_SOURCES.sub("", output.decode("utf-8", errors="replace")).replace(inside, ".")
        text += "".join(f"\n{note}\n" for note in self._notes(text, exit_code, job))
        if job.tool is Tool.EXPLAIN:
            records, records_cut = _read_records(host_dir / "out" / EXPLAIN_RECORDS)
            cut = len(output) >= cap or records_cut
            return BuildOutcome(exit_code == 0, text + (f"\n{OUTPUT_CUT} its cap\n" if cut else ""), None, duration,
                                files=records)  # fmt: skip
        succeeded = exit_code == 0
        binary_path = host_dir / "out" / "prog"
        # `go test -c` writes nothing for a package without tests.
        wants_binary = succeeded and job.tool in _BINARY_TOOLS and os.path.lexists(binary_path)
        binary = _read_binary(binary_path) if wants_binary else None
        if job.tool is Tool.BUILD and binary is not None and not binary.startswith(ELF_MAGIC):
            succeeded, binary, text = False, None, not_a_main_package(job.files) + "\n"  # a library's archive
        files = _read_back(host_dir / "src", job.files) if job.tool is Tool.FMT else None
        return BuildOutcome(succeeded, text, binary, duration, files=files)

    def _notes(self, text: str, exit_code: int, job: BuildJob) -> list[str]:
        """gosandbox's own lines on a build's output: why it failed, when Go's words do not say."""
        notes = []
        if exit_code == KILLED_EXIT:
            notes.append(f"gosandbox: the compiler was killed: it used more than {self.config.memory_mb} MB")
        if self.config.module_proxy_dir is None and module_lookup_failed(text, job.files.get("go.mod", "")):
            notes.append(MODULES_OFF_HINT)
        return notes


_BINARY_TOOLS = (Tool.BUILD, Tool.TEST)


def _write_sources(host_dir: Path, files: dict[str, str], *, writable: bool) -> None:
    """The package under ``src/`` (writable by the builder only if ``writable``), an ``out/`` for the binary."""
    src, out = host_dir / "src", host_dir / "out"
    src.mkdir(parents=True, mode=0o755)
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # the builder's uid writes the binary here
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if writable:
        for path in [src, *src.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o666)


def _read_back(src: Path, files: dict[str, str]) -> dict[str, str]:
    """The formatted .go files and go.mod, each bounded in size."""
    formatted = {}
    for name, original in files.items():
        if name.endswith(".go") or name == "go.mod":
            data = _read_inside(src, name, 2 * len(original.encode()) + 64 * 1024)
            formatted[name] = data.decode("utf-8", errors="replace")
    return formatted


def _read_records(root: Path) -> tuple[dict[str, str], bool]:
    """The compiler's -json records under ``root`` (path -> text), and whether some were left for the caps."""
    records: dict[str, str] = {}
    budget, cut = MAX_RECORD_BYTES, False
    if root.is_symlink() or not root.is_dir():
        return records, cut
    for directory, _subdirectories, names in os.walk(root):  # never into a symlinked directory
        for name in sorted(names):
            relative = os.path.relpath(os.path.join(directory, name), root)
            if not name.endswith(".json"):
                continue
            if len(records) >= MAX_RECORD_FILES or os.lstat(os.path.join(directory, name)).st_size > budget:
                cut = True
                continue
            data = _read_inside(root, relative, budget)
            budget -= len(data)
            records[relative] = data.decode("utf-8", errors="replace")
    return records, cut


def _read_binary(path: Path) -> bytes:
    """The built program, bounded."""
    return _read_inside(path.parent, path.name, MAX_BINARY_BYTES)


def _read_inside(root: Path, name: str, max_bytes: int) -> bytes:
    """Read ``root/name`` as the builder left it, trusting nothing about it.

    The builder can write below ``root``: no component may lead outside it, the file must be
    regular (a FIFO would block us forever) and no larger than ``max_bytes``.
    """
    real = os.path.realpath(root / name)
    if not real.startswith(os.path.realpath(root) + os.sep):
        raise SandboxFailure(f"the builder left {name!r} pointing outside its directory")
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            raise SandboxFailure(f"the builder left {name!r} as no regular file of at most {max_bytes} bytes")
        return handle.read(max_bytes)


def _read_capped(stream: Any, cap_bytes: int) -> bytes:
    output = bytearray()
    for chunk in stream:
        if len(output) < cap_bytes:
            output += chunk[: cap_bytes - len(output)]
    return bytes(output)

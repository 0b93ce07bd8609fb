"""The long-lived builder sandbox: receives builds from its build service, never runs user code.

Each build gets a directory of its own under the state directory, bind-mounted at ``/builds``. The builder's
first process starts the agent's build service (images/buildservice.go), which listens on a unix socket in
that directory: a build is one request over it (the package's directory, the deadline, the output cap, the go
commands) and one answer (exit code, output, timings): no ``docker exec`` per build. A single ``main`` package
of the standard library is compiled and linked directly (images/fastbuild.go), everything else by the go
command. The Go standard library is pre-built in the image and in a cache volume seeded from it.
``BuilderConfig.build_service=False`` is the former way, one ``docker exec`` of the agent's ``build`` per build.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
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
    race_command,
    tenant_compile_flag,
)

logger = logging.getLogger(__name__)

MAX_COMPILE_OUTPUT_BYTES = 64 * 1024
MAX_BINARY_BYTES = 256 * 1024 * 1024
#: The most -json record bytes an EXPLAIN build returns (the records of a 10 000-line program take a few MB).
MAX_RECORD_BYTES = 32 * 1024 * 1024
MAX_RECORD_FILES = 1024
#: 128 + SIGKILL: what an exec reports for a process the kernel or we killed.
KILLED_EXIT = 137
#: How long a build waits for the build service to listen after its builder (re)started.
SERVICE_START_S = 10.0
#: Beyond the build's own deadline (the service holds it), how long the server waits for the service's answer.
ANSWER_MARGIN_S = 15.0
#: The build service's socket, in a directory of the builds' directory that only the builder's uid can write.
SERVICE_SOCKET = "build.sock"
#: Every this many builds, the build cache is brought under its cap (images/trimcache.go); and at the first.
TRIM_EVERY = 200
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
    #: Builds are requests to the builder's build service; False: one ``docker exec`` each (the former way).
    build_service: bool = True
    #: A plain build of one ``main`` package of the standard library is compiled and linked directly.
    direct_builds: bool = True
    #: The build cache volume's cap: the least recently used entries go beyond it (0: no cap).
    cache_max_mb: int = 2048

    @property
    def service_dir(self) -> str:
        """The build service's directory's name in ``builds_dir`` (its socket in it): one per builder image."""
        return f".service-{hashlib.sha256(self.image.encode()).hexdigest()[:12]}"

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
        self._builds = 0

    def _shape(self) -> SandboxShape:
        c = self.config
        return SandboxShape(
            image=c.image,
            command=[AGENT, "init", *([f"--serve=/builds/{c.service_dir}/{SERVICE_SOCKET}"] * c.build_service)],
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
            if self.config.build_service:
                self._service_directory()
            with docker_errors("starting the builder sandbox"):
                container = self.client.containers.run(**self._options())
            self._container_id = str(container.id)
            self.marker(self._container_id).touch()
            metrics.sandbox_created("builder")
            logger.info("builder sandbox %s started", container.short_id)
            return self._container_id

    def _service_directory(self) -> None:
        """The build service's directory: the builder's uid's alone (the server, as root, reaches the socket).

        A server that is not root cannot give it away: the directory is then open to every uid, as the socket is
        (the levels above it are traversable, not listable: :func:`gosandbox.backends.docker.builds.own_directory`).
        """
        path = self.config.builds_dir / self.config.service_dir
        path.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(path, BUILDER_UID, BUILDER_UID)
            path.chmod(0o700)
        else:
            path.chmod(0o777)

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
        inside = f"/builds/{build_id}"
        tenant_flag = tenant_compile_flag(job.tenant) if job.tenant else None
        tool = go_command(job.tool, f"{inside}/out/prog", cover=job.cover, fuzz=job.fuzz, assembly=job.assembly,
                          tenant_flag=tenant_flag)  # fmt: skip
        if job.race:  # the race builder's command (the direct compile-and-link is not for it)
            tool = race_command(job.tool, f"{inside}/out/prog", cover=job.cover, fuzz=job.fuzz)
        cap = EXPLAIN_OUTPUT_BYTES if job.tool is Tool.EXPLAIN else MAX_COMPILE_OUTPUT_BYTES
        started = time.monotonic()
        if self.config.build_service:
            direct_ok = job.tool is Tool.BUILD and self.config.direct_builds and not job.race
            direct = f"{inside}/out/prog" if direct_ok else ""
            request = {"dir": f"{inside}/src", "timeout_ms": int(job.timeout_s * 1000), "cap_bytes": cap,
                       "steps": tool, "direct": direct, "flags": {"race": job.race}}  # fmt: skip
            output, exit_code = self._request(request, job.timeout_s)
            self._trim_now_and_then()
        else:
            output, exit_code = self._exec(inside, tool, job.timeout_s, cap)
        duration = time.monotonic() - started
        text = _BUILD_SOURCES.sub("", output.decode("utf-8", errors="replace")).replace(inside, ".")
        text = text.lstrip("\n") if job.race else text  # go list's empty line for each package it checked
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

    def _exec(self, inside: str, tool: list[str], timeout_s: float, cap: int) -> tuple[bytes, int]:
        """The former way: one ``docker exec`` of the agent's ``build``; its output and exit code."""
        container_id = self.container_id()
        command = [AGENT, "build", str(int(timeout_s * 1000)), *tool]
        with docker_errors("running the toolchain in the builder sandbox"):
            exec_id = self.client.api.exec_create(container_id, command, workdir=f"{inside}/src", user=f"{BUILDER_UID}")
            output = _read_capped(self.client.api.exec_start(exec_id, stream=True), cap)
            exit_code = int(self.client.api.exec_inspect(exec_id)["ExitCode"])
        return output, exit_code

    def _request(self, request: dict[str, Any], timeout_s: float) -> tuple[bytes, int]:
        """One build through the build service: its output and exit code."""
        with self._connect() as conn:
            conn.settimeout(timeout_s + ANSWER_MARGIN_S)
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = _read_answer(conn)
        if not isinstance(answer.get("exit"), int) or not isinstance(answer.get("output"), str):
            raise SandboxFailure("the build service gave an answer without an exit code and output")
        output = base64.b64decode(answer["output"])
        logger.debug("build: %s path in %s ms%s", answer.get("path"), answer.get("ms"),
                     f" (refused: {answer['refused']})" if answer.get("refused") else "")  # fmt: skip
        return output, int(answer["exit"])

    def _trim_now_and_then(self) -> None:
        """Every :data:`TRIM_EVERY` builds (the first included), bring the build cache under its cap."""
        with self._lock:
            due, self._builds = self._builds % TRIM_EVERY == 0, self._builds + 1
        if due and self.config.cache_max_mb > 0:
            self.trim_cache()

    def trim_cache(self) -> tuple[int, int, int]:
        """Remove the least recently used build-cache entries beyond the cap: (bytes before, bytes after, removed)."""
        request = {"trim": {"dir": "/cache", "max_bytes": self.config.cache_max_mb * 1024 * 1024}}
        output, _exit = self._request(request, 60.0)
        before, after, removed = (int(n) for n in output.split()[:3])
        if removed:
            logger.info("build cache trimmed from %d to %d MB (%d entries)", before >> 20, after >> 20, removed)
        return before, after, removed

    def _connect(self) -> socket.socket:
        """A connection to the build service; the builder is (re)started when nothing answers on its socket."""
        if self._container_id is not None:
            with contextlib.suppress(OSError):
                return self._dial()
        self.container_id()  # inspects, restarts a stopped builder
        give_up = time.monotonic() + SERVICE_START_S
        while True:
            try:
                return self._dial()
            except OSError as exc:
                if time.monotonic() > give_up:
                    raise SandboxFailure("the builder's build service does not answer") from exc
                time.sleep(0.01)

    def _dial(self) -> socket.socket:
        """Connect through the builds directory's descriptor: its path may be longer than a socket address."""
        directory = os.open(self.config.builds_dir, os.O_PATH | os.O_DIRECTORY)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(f"/proc/self/fd/{directory}/{self.config.service_dir}/{SERVICE_SOCKET}")
        except OSError:
            conn.close()
            raise
        finally:
            os.close(directory)
        return conn

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


#: The largest answer the build service gives: the output's cap in base64, and room for the rest.
_MAX_ANSWER_BYTES = EXPLAIN_OUTPUT_BYTES * 4 // 3 + 64 * 1024


def _read_answer(conn: socket.socket) -> dict[str, Any]:
    """The service's one JSON answer (it closes the connection after it), bounded."""
    data = bytearray()
    while chunk := conn.recv(1 << 16):
        data += chunk
        if len(data) > _MAX_ANSWER_BYTES:
            raise SandboxFailure("the build service's answer is larger than any it should give")
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise SandboxFailure("the build service ended without an answer") from exc
    if not isinstance(answer, dict):
        raise SandboxFailure("the build service's answer is not an object")
    return answer


def _read_capped(stream: Any, cap_bytes: int) -> bytes:
    output = bytearray()
    for chunk in stream:
        if len(output) < cap_bytes:
            output += chunk[: cap_bytes - len(output)]
    return bytes(output)

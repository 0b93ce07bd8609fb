"""The OCI runtime's command line: run, kill, delete and list sandboxes under a state root of our own.

Every call names ``--root``: a directory under the state directory that only this backend instance
uses, so that ``list`` shows exactly the sandboxes this instance (or a crashed predecessor of it)
started, and reaping never touches anyone else's. The runtime's own messages go to a JSON log
beside the bundle, never into the program's output: an ``error`` line there means the runtime, not
the program, failed.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gosandbox.errors import BackendUnavailable, SandboxFailure

logger = logging.getLogger(__name__)

#: The runtimes this backend knows how to drive.
KNOWN_RUNTIMES = ("runc", "runsc")
#: gVisor's platforms (how the Sentry intercepts the program's system calls); ``auto``: systrap where the binary
#: has it (0.0~2023 on), else the binary's own default (ptrace in Debian bookworm's 0.0~20221219).
RUNSC_PLATFORMS = ("auto", "systrap", "ptrace", "kvm")
_CONTROL_TIMEOUT_S = 30.0
_LIST_TRIES = 5
_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class OciRuntime:
    """One runtime binary and the state root this backend instance owns."""

    name: str
    binary: str
    root: Path
    #: runsc's ``--platform`` (None: the binary's own default); runc has none
    platform: str | None = None

    def _command(self, *args: str, log: Path | None = None) -> list[str]:
        flags = ["--root", str(self.root)]
        if self.name == "runsc":
            # No network stack at all, not just an empty namespace; and config.json's seccomp filter
            # applied to the program inside gVisor too (runsc ignores it otherwise).
            flags += ["--network=none", "--oci-seccomp"]
            flags += [f"--platform={self.platform}"] if self.platform else []
        if log is not None:
            flags += ["--log", str(log), "--log-format", "json"]
        return [self.binary, *flags, *args]

    def control_command(self) -> list[str]:
        """The runtime and its global flags (our state root), to be followed by a subcommand."""
        return self._command()

    def run(
        self, bundle: Path, sandbox_id: str, stdin: IO[bytes] | int, rlimits: Mapping[str, int] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start the sandbox and its program; the runtime exits with the program's status.

        runc keeps the stopped sandbox (``--keep``) so that its cgroup's counters can be read
        before :meth:`delete`; runsc has no such flag and removes its cgroup as it exits.
        ``rlimits`` (OCI names, soft = hard), when given, are set on the runtime itself by ``prlimit(1)``
        and inherited by the sandbox's first process: for a config that cannot carry them (spec.oci_config).
        """
        keep = ["--keep"] if self.name == "runc" else []
        command = self._command("run", *keep, "--bundle", str(bundle), sandbox_id, log=bundle / "runtime.log")
        if rlimits:
            command = [*_prlimit_command(rlimits), *command]
        return subprocess.Popen(  # noqa: S603 - our own runtime binary, our own arguments
            command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True
        )

    def kill(self, sandbox_id: str) -> None:
        """SIGKILL the sandbox's PID 1: its pid namespace, and so every process in it, dies with it."""
        self._control("kill", sandbox_id, "KILL")

    def signal(self, sandbox_id: str, number: int) -> None:
        """Send signal ``number`` to the sandbox's PID 1 (an interactive run's Ctrl-C)."""
        self._control("kill", sandbox_id, str(number))

    def delete(self, sandbox_id: str) -> None:
        """Remove the sandbox (killing what is left of it) and its cgroup."""
        self._control("delete", "--force", sandbox_id)

    def list_ids(self) -> list[str]:
        """The sandboxes under our state root, running or stopped."""
        for _ in range(_LIST_TRIES):
            if not self.root.is_dir():
                return []
            result = subprocess.run(  # noqa: S603
                self._command("list", "--format", "json"), capture_output=True, timeout=_CONTROL_TIMEOUT_S, check=False
            )
            if result.returncode == 0:
                entries = json.loads(result.stdout or b"null") or []
                return [str(entry["id"]) for entry in entries]
            if b"no such file or directory" not in result.stderr:
                break
            # A sandbox was deleted while the runtime listed the state root: list again.
        raise SandboxFailure(f"{self.name} list failed: {result.stderr.decode(errors='replace')[:300]}")

    def _control(self, *args: str) -> None:
        """A control call whose failure (the sandbox is gone already) is only logged."""
        result = subprocess.run(  # noqa: S603
            self._command(*args), capture_output=True, timeout=_CONTROL_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            logger.debug("%s %s: %s", self.name, " ".join(args), result.stderr.decode(errors="replace")[:300])


#: OCI rlimit names -> prlimit(1)'s options.
_PRLIMIT_OPTIONS = {"RLIMIT_NOFILE": "nofile", "RLIMIT_FSIZE": "fsize", "RLIMIT_CORE": "core", "RLIMIT_CPU": "cpu"}


def _prlimit_command(rlimits: Mapping[str, int]) -> list[str]:
    binary = shutil.which("prlimit")
    if binary is None:
        raise BackendUnavailable("prlimit(1) is missing", hint="apt-get install util-linux")
    return [binary, *(f"--{_PRLIMIT_OPTIONS[kind]}={value}:{value}" for kind, value in rlimits.items()), "--"]


def find_runtime(name: str, root: Path, binary: str | None = None, platform: str = "auto") -> OciRuntime:
    """The runtime ``name``: ``binary`` if given, else on PATH (or /usr/sbin, /usr/bin); runsc on ``platform``.

    Raises :class:`BackendUnavailable` with a hint when it is not there or the platform is unknown.
    """
    if name not in KNOWN_RUNTIMES:
        raise BackendUnavailable(
            f"the OCI backend knows the runtimes {', '.join(KNOWN_RUNTIMES)}, not {name!r}",
            hint="set GOSANDBOX_RUNTIME=runc or GOSANDBOX_RUNTIME=runsc",
        )
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/usr/bin", "/sbin"])
    found = shutil.which(binary) if binary is not None else shutil.which(name, path=search)
    if found is None:
        package = "runsc" if name == "runsc" else "runc"
        raise BackendUnavailable(
            f"the OCI runtime {name} is not installed" + (f" at {binary}" if binary else ""),
            hint=f"apt-get install {package} (make setup does), or set GOSANDBOX_BACKEND=docker",
        )
    return OciRuntime(name, found, root, _runsc_platform(found, platform) if name == "runsc" else None)


def _runsc_platform(binary: str, wanted: str) -> str | None:
    """``wanted``, or for ``auto`` systrap where this runsc has it (None: its own default, ptrace before 2023)."""
    if wanted not in RUNSC_PLATFORMS:
        raise BackendUnavailable(f"runsc has no platform {wanted!r}", hint="set GOSANDBOX_RUNSC_PLATFORM=auto")
    if wanted != "auto":
        return wanted
    listing = subprocess.run(  # noqa: S603 - our runtime binary: its flags name the platforms it has
        [binary, "flags"], capture_output=True, timeout=_CONTROL_TIMEOUT_S, check=False
    )
    return "systrap" if b"systrap" in listing.stdout + listing.stderr else None


def runtime_failure(log: Path) -> str | None:
    """The runtime's own error from its JSON log, or None when it logged none (the program's status stands)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", ""))[:500]
    return None


def pipe_chunks(stdout: IO[bytes], stderr: IO[bytes]) -> Iterator[tuple[bytes | None, bytes | None]]:
    """(stdout, stderr) chunks from the two pipes as they become readable, until both are closed.

    The shape :class:`BoundedOutput` reads; across the two pipes the order is the order of readiness.
    """
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ, 0)
        selector.register(stderr, selectors.EVENT_READ, 1)
        while selector.get_map():
            for key, _ in selector.select():
                data = os.read(key.fd, _READ_BYTES)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                yield (data, None) if key.data == 0 else (None, data)

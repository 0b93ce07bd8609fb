"""The ``gosandbox`` command in a subprocess, on the default backend and runtime (what ``gosandbox serve`` uses),
with a state directory and an instance of its own; and the containers its instance has on the engine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.reaper import INSTANCE_LABEL, LABEL

#: What the tests' conftest sets for the server fixtures, and what would send a command elsewhere.
_NOT_INHERITED = ("GOSANDBOX_BACKEND", "GOSANDBOX_RUNTIME", "GOSANDBOX_URL", "GOSANDBOX_API_KEY")


@dataclass(frozen=True)
class Cli:
    """``gosandbox`` as a user runs it: ``GOSANDBOX_INSTANCE=instance``, its state in ``state_dir``."""

    state_dir: Path
    instance: str

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        inherited = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
        return {**inherited, "GOSANDBOX_STATE_DIR": str(self.state_dir), "GOSANDBOX_INSTANCE": self.instance, **extra}

    def __call__(self, *args: str, stdin: bytes = b"", cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        """``gosandbox ARGS`` with ``env`` added to its environment."""
        command = [sys.executable, "-m", "gosandbox.cli.main", *args]
        return subprocess.run(command, env=self.env(env or {}), input=stdin, capture_output=True, timeout=180,
                              check=False, cwd=cwd)  # fmt: skip

    @property
    def kept(self) -> str:
        """The instance whose builder the commands keep between invocations."""
        return f"{self.instance}-cli"

    def containers(self, role: str | None = None) -> list[str]:
        """Ids of the containers of this instance's commands (the kept ``-cli`` one and any ``-cli-<pid>``)."""
        found = connect().api.containers(all=True, filters={"label": LABEL})
        return [c["Id"] for c in found if c["Labels"].get(INSTANCE_LABEL, "").startswith(self.kept)
                and (role is None or c["Labels"].get("gosandbox.role") == role)]  # fmt: skip

    def reap(self) -> None:
        """``gosandbox reap``: the kept builder goes; what is left after it is a test's failure."""
        done = self("reap")
        assert done.returncode == 0, done.stderr
        assert self.containers() == [], "gosandbox reap left containers of the command's instance"

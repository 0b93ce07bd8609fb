"""Bounded reading of a Docker exec stream, and cgroup facts the engine does not report."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gosandbox.backends.base import OutputSink


@dataclass
class BoundedOutput:
    """Collect stdout and stderr up to ``cap_bytes`` in total; past it, call ``on_overflow`` once.

    ``on_output`` sees each kept chunk as it arrives (for live events).
    """

    cap_bytes: int
    on_overflow: Callable[[], None]
    on_output: OutputSink | None = None
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exceeded: bool = False

    def feed(self, chunks: Iterable[tuple[bytes | None, bytes | None]]) -> None:
        for out, err in chunks:
            for name, data, buffer in (("stdout", out, self.stdout), ("stderr", err, self.stderr)):
                if data and not self._take(name, data, buffer):
                    return

    def _take(self, name: str, data: bytes, buffer: bytearray) -> bool:
        room = self.cap_bytes - len(self.stdout) - len(self.stderr)
        kept = data[: max(room, 0)]
        buffer += kept
        if kept and self.on_output is not None:
            self.on_output(name, kept)
        if len(data) > room:
            self.exceeded = True
            self.on_overflow()
            return False
        return True


_OOM_FILES = (
    "/sys/fs/cgroup/memory/docker/{id}/memory.oom_control",  # cgroup v1, cgroupfs driver
    "/sys/fs/cgroup/docker/{id}/memory.events",  # cgroup v2, cgroupfs driver
    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.events",  # cgroup v2, systemd driver
)


def cgroup_oom_kills(container_id: str) -> int | None:
    """How many processes the memory cgroup of a container killed, or None if unknown here.

    Docker 20.10 does not set ``State.OOMKilled`` when the killed process is not PID 1,
    so the counter is read from the cgroup on the engine's host (the local engine).
    """
    for template in _OOM_FILES:
        try:
            text = Path(template.format(id=container_id)).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return None

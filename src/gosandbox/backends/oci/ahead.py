"""Run sandboxes created ahead of need under runc: the runtime's create and start are off the request path.

An ahead sandbox is a whole ``runc run`` of a bundle sized for the server's default limits, whose first process is
``gosandbox-agent launch`` (images/launch.go) as the program's uid, with nothing the program may not hold. It waits,
blocked on its stdin, a pipe whose other end only we hold. A run then:

1. hands its files over into the bundle's ``/sandbox`` directory, already bound inside (a bind of a directory
   shows what is written into it later);
2. writes one launch message on the pipe: the working directory, the stdin file (none for a live run: its input
   follows the message on the same pipe), the program and its arguments;
3. and the waiting process execs the program, which is then the sandbox's PID 1, as in a sandbox started for it.

The runtime process is still our child and exits with the program's status; the sandbox's namespaces, root view,
user namespace, cgroup limits, rlimits, seccomp filter and the watcher that kills it when the server dies are the
ones a fresh sandbox gets, made earlier. Each sandbox serves one run and is deleted after it, like a fresh one.
What a pre-made sandbox cannot know in advance is its size: a run whose limits shape the sandbox differently
(``bundle.sized_alike``) gets a fresh one. The CPU time the launcher used before the program is taken out of
the program's figures (the cgroup's CPU is read at the launch); its memory peak is started over then where the
cgroup can (v1; under v2 a peak below the launcher's ~2 MiB would read as the launcher's).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gosandbox.backends.base import ExecJob
from gosandbox.backends.handover import PROGRAM_PATH, STDIN_PATH, working_dir
from gosandbox.backends.oci.bundle import Bundle
from gosandbox.backends.oci.separation import Separation

#: The launcher reads a message of at most this many bytes (images/launch.go's launchBodyBytes).
LAUNCH_BODY_BYTES = 4 << 20


class NotLaunched(Exception):
    """The waiting process was gone when its launch was written (its lease ended, or it was killed)."""


class LaunchPipe:
    """Our end of the waiting process's stdin: written once with the launch, then closed or handed on, once."""

    def __init__(self, write_fd: int) -> None:
        self._fd: int | None = write_fd
        self._lock = threading.Lock()

    def send(self, message: bytes) -> None:
        """Write the launch message; ``OSError`` (EPIPE) when the waiting process is gone (its lease ended)."""
        view = memoryview(message)
        with self._lock:
            if self._fd is None:
                raise OSError("the launch pipe is closed")
            while view:
                view = view[os.write(self._fd, view) :]

    def take(self) -> int | None:
        """The descriptor, for a live run's input to follow the message on it: the taker closes it."""
        with self._lock:
            fd, self._fd = self._fd, None
        return fd

    def close(self) -> None:
        fd = self.take()
        if fd is not None:
            os.close(fd)


@dataclass(frozen=True)
class AheadSandbox:
    """A started sandbox waiting for its program, and what it holds on the host."""

    bundle: Bundle
    separation: Separation | None
    #: the runtime (``runc run``), our child: it exits with the program's status
    process: subprocess.Popen[bytes]
    pipe: LaunchPipe
    #: time.monotonic() when its creation was asked for
    started: float = field(default_factory=time.monotonic)


def launch_message(job: ExecJob) -> bytes | None:
    """The message that makes the waiting process the program; None when a field cannot be carried (a NUL)."""
    stdin = "" if job.live is not None else STDIN_PATH
    body = nul_ended([working_dir(job), stdin, PROGRAM_PATH, *job.args])
    if body is None or len(body) > LAUNCH_BODY_BYTES:
        return None
    return b"%d\n" % len(body) + body


def nul_ended(fields: Sequence[str]) -> bytes | None:
    """Each field in UTF-8 and ended by a NUL (an argv's form); None when one cannot be carried so."""
    if any("\0" in text for text in fields):
        return None
    try:
        return b"".join(text.encode("utf-8") + b"\0" for text in fields)
    except UnicodeEncodeError:  # a lone surrogate: no argv carries it
        return None

"""Removes an OCI backend's sandboxes when the server dies without closing it (SIGKILL, the OOM killer, a crash).

Nothing inside an OCI sandbox holds its deadline (the program is PID 1; there is no agent), and
runsc does not enforce RLIMIT_CPU: a sleeping program under runc, or a busy one under runsc, would
outlive a dead server until the next start of the same instance. So each started backend keeps one
idle ``sh`` beside it, reading a pipe whose only write end the server holds (not inherited by any
child: Python's pipes are close-on-exec). When the server is gone the read ends, and the watcher
kills and deletes every sandbox under the backend's own state root, unmounts the root views of its
runc sandboxes (separation.py), then exits. Signals that end
a whole session or process group (Ctrl-C, a terminal hang-up, a service's SIGTERM) are ignored by
it, so that it outlives the server it watches; SIGKILL still ends it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from gosandbox.backends.oci.runtime import OciRuntime

#: ``$0 "$@"`` is the runtime with its flags (``--root`` ours): the same command line as every control call.
_WATCH = (
    'trap "" HUP INT TERM; read -r _ignored; '
    'for id in $("$0" "$@" list -quiet); do "$0" "$@" kill "$id" KILL; "$0" "$@" delete --force "$id"; done; '
    'if [ -n "$VIEWS" ]; then for view in "$VIEWS"/*; do umount -l "$view"; rmdir "$view"; done; rmdir "$VIEWS"; fi'
)
_CLOSE_WAIT_S = 30.0


class DeathWatch:
    """The watcher of one started backend; :meth:`close` ends it (and it removes what is left, as on a death)."""

    def __init__(self, runtime: OciRuntime, views: Path | None = None) -> None:
        """``views``: the directory of the instance's root views, unmounted after its sandboxes are deleted."""
        read_end, self._write_end = os.pipe()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - /bin/sh with our own script and our own runtime
                ["/bin/sh", "-c", _WATCH, *runtime.control_command()],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "VIEWS": str(views or "")},
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)

    @property
    def pid(self) -> int:
        return self._process.pid

    def close(self) -> None:
        """Hang up: the watcher removes what is left under the state root and exits."""
        if self._write_end >= 0:
            write_end, self._write_end = self._write_end, -1  # never close a number reused since
            with contextlib.suppress(OSError):
                os.close(write_end)
        try:
            self._process.wait(timeout=_CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

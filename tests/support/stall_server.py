"""A real ``gosandbox serve`` process (its uvicorn, its HTTP edge) on the fake backend whose programs print
``sys.argv[3]`` bytes of U+0001: answers of several MiB for the stalled-reader tests.

``python tests/support/stall_server.py PORT STATE_DIR OUTPUT_BYTES`` (settings from the environment too).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from gosandbox.app import create_app
from gosandbox.backends.base import ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend
from gosandbox.edge.serve import serve
from support.app_helpers import make_settings


def main() -> None:
    port, state_dir, size = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])

    def control_bytes(job: ExecJob) -> ExecOutcome:
        del job
        return ExecOutcome(exit_code=0, signal=None, stdout=b"\x01" * size, stderr=b"", duration_s=0.0)

    settings = make_settings(state_dir, max_output_bytes=size, default_output_bytes=size, log_level="WARNING")
    serve(create_app(settings, backend=FakeBackend(execute=control_bytes)), settings, "127.0.0.1", port)


if __name__ == "__main__":
    main()

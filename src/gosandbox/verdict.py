"""Turn what a backend observed into the program's verdict."""

from __future__ import annotations

import signal as signals

from gosandbox.backends.base import ExecOutcome
from gosandbox.models import Status

# Go's own message when an allocation fails below the cgroup limit (e.g. under RLIMIT_AS).
_GO_OUT_OF_MEMORY = b"fatal error: runtime: out of memory"
_GO_FATAL_EXIT = 2


def classify(outcome: ExecOutcome) -> Status:
    """Pick the status; limits the sandbox enforced win over the exit code they caused.

    Output past the cap is ``output_limit`` only when our kill ended the program: a program
    that died on its own while flooding (a Go crash dump, say) keeps its own verdict, and
    ``truncated`` tells that the output was cut.
    """
    if outcome.output_exceeded and outcome.signal == signals.SIGKILL:
        return Status.OUTPUT_LIMIT
    if outcome.timed_out or outcome.cancelled:
        return Status.TIMEOUT
    if outcome.oom_killed or (outcome.exit_code == _GO_FATAL_EXIT and _GO_OUT_OF_MEMORY in outcome.stderr):
        return Status.MEMORY_LIMIT
    if outcome.exit_code == 0 and outcome.signal is None:
        return Status.OK
    return Status.RUNTIME_ERROR


def signal_name(number: int | None) -> str | None:
    """``9`` -> ``"SIGKILL"``; unknown numbers keep a readable form."""
    if number is None:
        return None
    try:
        return signals.Signals(number).name
    except ValueError:
        return f"SIG{number}"

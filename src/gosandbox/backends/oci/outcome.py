"""The facts of one OCI run, as the Docker backend reports them: exit, signal, who killed it and why, usage."""

from __future__ import annotations

from dataclasses import dataclass

from gosandbox.backends.base import ExecOutcome
from gosandbox.backends.cgroups import SandboxUsage
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import Supervised
from gosandbox.backends.watch import SandboxKiller
from gosandbox.errors import SandboxFailure

#: 128 + SIGKILL: what the runtime reports for a PID 1 the kernel or we killed.
KILLED_EXIT = 137


@dataclass(frozen=True)
class RunEnd:
    """How the runtime ended, and the sandbox's counters then."""

    status: int  # the runtime's exit status: the program's code, or 128 + the signal that ended it
    duration_s: float
    usage: SandboxUsage
    #: No counter tells, but a SIGKILL we did not send can only be the memory limit's. Under runsc: past the
    #: limit the host kills the Sentry, and the whole sandbox dies before its supervisor could say how the
    #: program ended (its cgroup is gone by then).
    unexplained_kill_is_oom: bool = False
    #: the program's supervisor stopped it at its CPU-time limit (under runc the killer's reason says so)
    cpu_limit_hit: bool = False


def run_end(status: int, duration_s: float, usage: SandboxUsage, supervised: Supervised | None, killed: bool) -> RunEnd:
    """How a run ended: under runsc (``supervised``) as the program's supervisor says, when it could say.

    ``killed``: we killed the sandbox (a deadline, the output cap, a cancel). A supervisor that never started the
    program in a sandbox we did not kill is the sandbox's failure, not the program's.
    """
    if supervised is None:
        return RunEnd(status, duration_s, usage)
    if not supervised.started and not killed:
        raise SandboxFailure("runsc started the sandbox, but its supervisor did not start the program")
    end = supervised.end
    over_cpu = end is not None and end.cpu_limit_hit
    return RunEnd(supervised.status(status), duration_s, supervised.usage(usage), end is None, over_cpu)


def outcome(killer: SandboxKiller, output: BoundedOutput, end: RunEnd) -> ExecOutcome:
    usage = end.usage
    status = end.status
    killed = status == KILLED_EXIT
    return ExecOutcome(
        exit_code=status,
        signal=status - 128 if status > 128 else None,
        stdout=bytes(output.stdout),
        stderr=bytes(output.stderr),
        duration_s=end.duration_s,
        timed_out=killer.reason == "timeout",
        oom_killed=killed and killer.reason is None and ((usage.oom_kills or 0) > 0 or end.unexplained_kill_is_oom),
        output_exceeded=output.exceeded,
        cancelled=killer.reason == "cancelled",
        pids_limit_hit=(usage.forks_refused or 0) > 0,
        cpu_limit_hit=end.cpu_limit_hit or killer.reason == "cpu",
        cpu_time_ms=None if usage.cpu_ns is None else round(usage.cpu_ns / 1e6),
        peak_memory_kb=None if usage.peak_memory_bytes is None else usage.peak_memory_bytes // 1024,
    )

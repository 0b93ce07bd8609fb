"""One case of an interactive problem: the program and the interactor, each in a sandbox of its own with its own
limits, wired by live pipes: what one writes to its stdout reaches the other's stdin as it is written.

The interactor is called as a checker is (``interactor INPUT_FILE ANSWER_FILE FEEDBACK_DIR``, Kattis's
convention) and its exit code is the verdict: 42 accepts, 43 rejects. When one side ends, the other's stdin
is closed (it reads EOF). A program that stops talking, or never flushes what it writes, waits until its own
limit ends it: ``timeout``, not a hang. A limit the program hit is its verdict whatever the interactor said.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gosandbox.backends.base import Backend, ExecJob, ExecOutcome
from gosandbox.backends.live import LiveStdin

Execute = Callable[[ExecJob], ExecOutcome]


@dataclass(frozen=True)
class Talk:
    """The two ends of one case's conversation."""

    program: ExecOutcome
    interactor: ExecOutcome


def _relay(to: LiveStdin) -> Callable[[str, bytes], None]:
    """An output sink that passes a side's stdout on to the other side's stdin."""

    def passed(stream: str, data: bytes) -> None:
        if stream == "stdout":
            to.send(data)

    return passed


def _then_close(backend: Backend, job: ExecJob, other: LiveStdin) -> ExecOutcome:
    try:
        return backend.execute(job)
    finally:
        other.close()  # its partner ended: the other side reads EOF


def converse(backend: Backend, program: ExecJob, interactor: ExecJob) -> Talk:
    """Run ``program`` and ``interactor`` at once, each one's stdout live into the other's stdin."""
    to_program, to_interactor = LiveStdin(), LiveStdin()
    wired_program = _wired(program, to_program, to_interactor)
    wired_interactor = _wired(interactor, to_interactor, to_program)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="judge-talk") as pool:
        ran_program = pool.submit(_then_close, backend, wired_program, to_interactor)
        ran_interactor = pool.submit(_then_close, backend, wired_interactor, to_program)
        return Talk(ran_program.result(), ran_interactor.result())


def _wired(job: ExecJob, stdin: LiveStdin, stdout_to: LiveStdin) -> ExecJob:
    return ExecJob(job.binary, b"", job.args, job.limits, job.cancel, job.package_files, _relay(stdout_to), stdin)

"""Interactive jobs' live stdin, from the edge that holds the client (a WebSocket) to the job that runs it.

Embedded (no queue), both are in this process: the edge stores the job, then :meth:`LiveInputs.open` its input
under the submission's id; the executor, which may claim the job a moment before that, waits for it
(:meth:`LiveInputs.take`). An interactive job whose input never comes (its client left before) runs with its
stdin closed and is cut short by its client's cancel.
"""

from __future__ import annotations

import threading

from gosandbox.backends.live import LiveStdin

#: How long a claimed interactive job waits for its edge to hand over its input.
_HANDOVER_S = 10.0


class LiveInputs:
    """The live stdin of each interactive job this process runs, by submission id."""

    def __init__(self) -> None:
        self._inputs: dict[str, LiveStdin] = {}
        self._changed = threading.Condition()

    def open(self, submission_id: str) -> LiveStdin:
        """A new input for the job (its edge's side)."""
        live = LiveStdin()
        with self._changed:
            self._inputs[submission_id] = live
            self._changed.notify_all()
        return live

    def take(self, submission_id: str, timeout_s: float = _HANDOVER_S) -> LiveStdin:
        """The job's input (the executor's side); a closed one when its edge did not open one in time."""
        with self._changed:
            self._changed.wait_for(lambda: submission_id in self._inputs, timeout_s)
            live = self._inputs.get(submission_id)
        if live is None:
            live = LiveStdin()
            live.close()
        return live

    def drop(self, submission_id: str) -> None:
        """The job ended or its client left: forget its input."""
        with self._changed:
            self._inputs.pop(submission_id, None)


#: This process's interactive inputs: the edges and the executor of the embedded mode share them.
LIVE_INPUTS = LiveInputs()

"""Sandbox backends: the one seam between the runner and an isolation engine."""

from gosandbox.backends.base import Backend, BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.fake import FakeBackend

__all__ = ["Backend", "BuildJob", "BuildOutcome", "ExecJob", "ExecOutcome", "FakeBackend"]

"""gosandbox: run untrusted Go code in hardened, throwaway sandboxes.

>>> from gosandbox import Runner, make_spec
>>> from gosandbox.backends import FakeBackend
>>> Runner(FakeBackend()).run(make_spec({"main.go": "package main"})).status
<Status.OK: 'ok'>
"""

from gosandbox.errors import (
    BackendUnavailable,
    EngineUnreachable,
    GosandboxError,
    ImageMissing,
    InvalidRequest,
    InvalidSource,
    LimitOutOfRange,
    Overloaded,
    PayloadTooLarge,
    SandboxFailure,
)
from gosandbox.limits import Limits
from gosandbox.models import RunResult, RunSpec, Status, Timings
from gosandbox.policy import Policy
from gosandbox.runner import Runner
from gosandbox.source import make_spec

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "EngineUnreachable",
    "GosandboxError",
    "ImageMissing",
    "InvalidRequest",
    "InvalidSource",
    "LimitOutOfRange",
    "Limits",
    "Overloaded",
    "PayloadTooLarge",
    "Policy",
    "RunResult",
    "RunSpec",
    "Runner",
    "SandboxFailure",
    "Status",
    "Timings",
    "__version__",
    "make_spec",
]

"""gosandbox: run untrusted Go code in hardened, throwaway sandboxes.

>>> from gosandbox import Runner, make_spec
>>> from gosandbox.backends import FakeBackend
>>> Runner(FakeBackend()).run(make_spec({"main.go": "package main"})).status
<Status.OK: 'ok'>

The HTTP client (``Client``, ``AsyncClient``, ``Retries``) is imported on first use: httpx alone
takes about 0.2 s to import. Its exceptions (``ApiError`` and the rest) cost nothing and are here.
"""

import importlib
from typing import TYPE_CHECKING

from gosandbox._version import __version__
from gosandbox.client.errors import (
    AccessDenied,
    ApiError,
    BadRequest,
    ClientError,
    Conflict,
    NotFound,
    RequestTimedOut,
    TooLarge,
    TooManyRequests,
    Unavailable,
    Unreachable,
)
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

if TYPE_CHECKING:
    from gosandbox.client.calls import Retries
    from gosandbox.client.http import AsyncClient, Client


_IMPORTED_ON_USE = {
    "AsyncClient": "gosandbox.client.http",
    "Client": "gosandbox.client.http",
    "Retries": "gosandbox.client.calls",
}


def __getattr__(name: str) -> object:
    if name in _IMPORTED_ON_USE:
        return getattr(importlib.import_module(_IMPORTED_ON_USE[name]), name)
    raise AttributeError(f"module 'gosandbox' has no attribute {name!r}")


__all__ = [
    "AccessDenied",
    "ApiError",
    "AsyncClient",
    "BackendUnavailable",
    "BadRequest",
    "Client",
    "ClientError",
    "Conflict",
    "EngineUnreachable",
    "GosandboxError",
    "ImageMissing",
    "InvalidRequest",
    "InvalidSource",
    "LimitOutOfRange",
    "Limits",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "Policy",
    "RequestTimedOut",
    "Retries",
    "RunResult",
    "RunSpec",
    "Runner",
    "SandboxFailure",
    "Status",
    "Timings",
    "TooLarge",
    "TooManyRequests",
    "Unavailable",
    "Unreachable",
    "__version__",
    "make_spec",
]

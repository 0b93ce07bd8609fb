"""The names ``import gosandbox`` offers are a contract: changing them is a deliberate act."""

from __future__ import annotations

import subprocess
import sys

import gosandbox

PUBLIC = [
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


def test_all_is_pinned() -> None:
    assert gosandbox.__all__ == PUBLIC


def test_every_public_name_exists() -> None:
    missing = [name for name in gosandbox.__all__ if not hasattr(gosandbox, name)]
    assert missing == []


def test_the_error_tree() -> None:
    assert issubclass(gosandbox.InvalidSource, gosandbox.InvalidRequest)
    assert issubclass(gosandbox.LimitOutOfRange, gosandbox.InvalidRequest)
    assert issubclass(gosandbox.PayloadTooLarge, gosandbox.InvalidRequest)
    assert issubclass(gosandbox.InvalidRequest, gosandbox.GosandboxError)
    assert issubclass(gosandbox.Overloaded, gosandbox.GosandboxError)
    for cls in (gosandbox.EngineUnreachable, gosandbox.ImageMissing, gosandbox.SandboxFailure):
        assert issubclass(cls, gosandbox.BackendUnavailable)
    assert issubclass(gosandbox.BackendUnavailable, gosandbox.GosandboxError)
    assert not issubclass(gosandbox.Overloaded, gosandbox.InvalidRequest)


def test_the_client_error_tree() -> None:
    for cls in (gosandbox.BadRequest, gosandbox.AccessDenied, gosandbox.NotFound, gosandbox.Conflict,
                gosandbox.TooManyRequests, gosandbox.Unavailable):  # fmt: skip
        assert issubclass(cls, gosandbox.ApiError)
    assert issubclass(gosandbox.ApiError, gosandbox.ClientError)
    assert issubclass(gosandbox.RequestTimedOut, gosandbox.Unreachable)
    assert issubclass(gosandbox.Unreachable, gosandbox.ClientError)
    assert issubclass(gosandbox.ClientError, gosandbox.GosandboxError)
    # where the library has the same error, code written against the Runner catches the client's too
    assert issubclass(gosandbox.BadRequest, gosandbox.InvalidRequest)
    assert issubclass(gosandbox.TooLarge, gosandbox.BadRequest)
    assert issubclass(gosandbox.TooLarge, gosandbox.PayloadTooLarge)
    assert issubclass(gosandbox.Unavailable, gosandbox.BackendUnavailable)
    assert not issubclass(gosandbox.TooManyRequests, gosandbox.InvalidRequest)


def test_import_gosandbox_leaves_httpx_until_the_client_is_used() -> None:
    probe = "import sys, gosandbox; a = 'httpx' in sys.modules; gosandbox.Client; print(a, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "True"]

"""The names ``import gosandbox`` offers are a contract: changing them is a deliberate act."""

from __future__ import annotations

import gosandbox

PUBLIC = [
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

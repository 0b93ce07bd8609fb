"""The service's own failures. The program's failures are data (``RunResult.status``).

Exception tree::

    GosandboxError                 root: anything the service itself could not do
    ├── InvalidRequest             the caller sent something we refuse (HTTP 4xx)
    │   ├── InvalidSource          bad file names, bad go.mod, too many files
    │   ├── LimitOutOfRange        a requested limit is below the minimum or above the cap
    │   │   └── AboveKeyCap        a requested limit is above the cap of the request's API key
    │   ├── UnknownToolchain       the requested Go version is not installed here
    │   ├── CallbackNotAllowed     a callback_url whose host the server does not allow
    │   ├── IdempotencyKeyReused   an Idempotency-Key sent again with a different request
    │   ├── PayloadTooLarge        body, source or stdin over its size cap
    │   └── UnsupportedMediaType   a body that is neither JSON nor plain text, or compressed
    ├── SubmissionNotFound         no submission has this id (HTTP 404)
    ├── SubmissionFinished         the submission already finished; it cannot be cancelled (HTTP 409)
    ├── Unauthorized               no API key, or an unknown or revoked one, where one is required (HTTP 401)
    ├── Overloaded                 all sandboxes busy and the wait queue full (HTTP 429)
    │   ├── RateLimited            the API key's token bucket is empty or its daily quota spent (HTTP 429)
    │   └── StorageQuotaExceeded   the API key (or keyless tenant) keeps its quota of stored bytes (HTTP 429)
    ├── JobFailed                  the service could not finish a job; carries its stored problem
    └── BackendUnavailable         something the service needs cannot serve (HTTP 503)
        ├── EngineUnreachable      the Docker engine does not answer
        ├── ImageMissing           an image must be built first
        ├── SandboxFailure         the engine answered but a sandbox step failed
        ├── QueueUnavailable       the task queue (Redis) does not answer
        └── StoreUnavailable       the submission database does not answer
"""

from __future__ import annotations

from typing import Any


class GosandboxError(Exception):
    """Root of every error the service raises."""

    #: One line telling the operator or the caller what to do next.
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class InvalidRequest(GosandboxError):
    """The request cannot be run as sent."""


class InvalidSource(InvalidRequest):
    """The submitted files are not an acceptable Go program."""


class LimitOutOfRange(InvalidRequest):
    """A requested limit is out of the allowed range."""


class AboveKeyCap(LimitOutOfRange):
    """A requested limit is above what the request's API key may ask (``gosandbox keys create --max-*``)."""


class UnknownToolchain(InvalidRequest):
    """The request names a Go version this server has no builder for."""


class CallbackNotAllowed(InvalidRequest):
    """A ``callback_url`` the server will not call."""


class IdempotencyKeyReused(InvalidRequest):
    """An ``Idempotency-Key`` already names a submission of another request."""


class PayloadTooLarge(InvalidRequest):
    """A body, a source or stdin is bigger than its cap."""


class UnsupportedMediaType(InvalidRequest):
    """The body is neither JSON nor plain text (or it is compressed)."""


class SubmissionNotFound(GosandboxError):
    """No submission has this id (it never existed, or it was purged after its TTL)."""


class SubmissionFinished(GosandboxError):
    """The submission already finished."""


class JobFailed(GosandboxError):
    """A job ended ``failed``: ``problem`` is the problem document stored with it."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail", "the job failed")))
        self.problem = problem


class Overloaded(GosandboxError):
    """Every sandbox slot is busy and the wait queue is full."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, hint=f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Unauthorized(GosandboxError):
    """The request carries no API key, or one that is unknown or revoked, where keys are required."""


class RateLimited(Overloaded):
    """The request's API key has no token left in its bucket, or has spent its daily quota."""


class StorageQuotaExceeded(Overloaded):
    """Storing this would take the request's API key (or the keyless tenant) past its storage quota."""


class BackendUnavailable(GosandboxError):
    """The sandbox engine cannot run programs right now."""


class EngineUnreachable(BackendUnavailable):
    hint = "start the Docker engine (make setup does it) and check that this user may use its socket"


class ImageMissing(BackendUnavailable):
    hint = "build the images with `gosandbox image build`"


class SandboxFailure(BackendUnavailable):
    hint = "see the server log; `gosandbox doctor` checks the set-up"


class QueueUnavailable(BackendUnavailable):
    hint = "start Redis (GOSANDBOX_QUEUE_URL) and retry; accepted jobs are kept in the database"


class StoreUnavailable(BackendUnavailable):
    hint = "check that the database (GOSANDBOX_DATABASE_URL) is up and reachable, then retry"

"""A submission: one request (run, test, vet, fmt, explain or judge) turned into a job with an id, a state and a result.

``state`` is the job's (``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``); the
program's verdict stays in ``result["status"]``.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gosandbox.explain import ExplainOptions
from gosandbox.gotest import TestOptions
from gosandbox.limits import Limits
from gosandbox.models import RunSpec
from gosandbox.source import make_spec, with_race


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (State.DONE, State.FAILED, State.CANCELLED)


_ID = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    """A new submission's id: 32 hexadecimal digits (a random UUID's)."""
    return uuid.uuid4().hex


def is_submission_id(text: str) -> bool:
    """Whether ``text`` has the form of a submission's id (the edges check it before asking the store)."""
    return _ID.fullmatch(text) is not None


@dataclass(frozen=True)
class Owner:
    """Whom a submission, a shared program or an idempotency key belongs to: an API key, by its name
    (never the key), or, with ``key_name`` None, the keyless tenant (every request of a server without
    ``GOSANDBOX_AUTH``). Stored in the ``api_key_name`` columns.

    The edges (HTTP routes, MCP) say who the caller is and pass it into the job layer, which stores
    it and never asks the HTTP layer itself. As a caller, an owner reads only what it owns, unless
    its key is an ``admin`` one (``gosandbox keys create --admin``); anything else is "not found".
    """

    key_name: str | None = None
    #: the caller's key may read, cancel and delete what every key owns (not part of the identity)
    admin: bool = field(default=False, compare=False)

    @property
    def keyless(self) -> bool:
        return self.key_name is None

    def may_access(self, owner_name: str | None) -> bool:
        """Whether this caller may read, cancel or delete what the key ``owner_name`` (None: keyless) stored."""
        return self.admin or self.key_name == owner_name


#: The owner of every request of a server without API keys.
KEYLESS = Owner()


class Kind(StrEnum):
    RUN = "run"
    TEST = "test"
    VET = "vet"
    FMT = "fmt"
    EXPLAIN = "explain"
    JUDGE = "judge"


@dataclass(frozen=True)
class JobRequest:
    """What a job does, in a form any worker can rebuild from JSON (no pickle)."""

    kind: Kind
    spec: RunSpec
    test_options: TestOptions = field(default_factory=TestOptions)
    sent_files: tuple[str, ...] = ()  # fmt answers with the files the caller sent, not the go.mod we added
    default_program: bool = False  # a body-less POST /run: the result says so
    #: what a compatibility layer keeps to answer later in its own terms (Judge0's expected_output and
    #: limits as sent), by layer name; the job never reads it (its end reads ``callback_shape``:
    #: see :func:`gosandbox.jobs.webhooks.callback_of`)
    compat: dict[str, Any] | None = None
    explain_options: ExplainOptions = field(default_factory=ExplainOptions)  # which assembly an explain lists
    #: a judging's cases and how they are judged (:meth:`gosandbox.judge.task.JudgeTask.to_json`); ``spec``: its program
    judge: dict[str, Any] | None = None
    #: a run whose stdin comes live from its client (:mod:`gosandbox.jobs.live`), not from ``spec.stdin``
    interactive: bool = False

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "kind": self.kind.value,
            "files": spec.files,
            "stdin_b64": base64.b64encode(spec.stdin).decode("ascii"),
            "args": list(spec.args),
            "limits": asdict(spec.limits),
            "go_version": spec.go_version,
            **({"race": True} if spec.race else {}),
            "test_options": asdict(self.test_options),
            "sent_files": list(self.sent_files),
            "default_program": self.default_program,
            **({"compat": self.compat} if self.compat is not None else {}),
            **({"explain_options": asdict(self.explain_options)} if self.kind is Kind.EXPLAIN else {}),
            **({"judge": self.judge} if self.judge is not None else {}),
            **({"interactive": True} if self.interactive else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRequest:
        """Rebuild a request stored by :meth:`to_json`; the files are checked again on the way."""
        spec = make_spec(
            dict(data["files"]),
            stdin=base64.b64decode(data["stdin_b64"]),
            args=tuple(data["args"]),
            limits=Limits(**data["limits"]),
            go_version=data["go_version"],
        )
        spec = with_race(spec, bool(data.get("race")))
        options = TestOptions(**data["test_options"])
        explain = ExplainOptions.from_json(data.get("explain_options") or {})
        return cls(Kind(data["kind"]), spec, options, tuple(data["sent_files"]), bool(data.get("default_program")),
                   data.get("compat"), explain, data.get("judge"), bool(data.get("interactive")))  # fmt: skip


def iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Submission:
    """A stored job. Times are seconds since the epoch (UTC)."""

    id: str
    kind: Kind
    state: State
    request: dict[str, Any]
    created_at: float
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    worker: str | None = None
    go_version: str | None = None
    callback_url: str | None = None
    callback: dict[str, Any] | None = None  # the webhook's delivery outcome
    events: list[dict[str, Any]] | None = None  # every event, stored when the job finished
    api_key_name: str | None = None  # the name of the API key that submitted it (never the key)

    @property
    def owner(self) -> Owner:
        return Owner(self.api_key_name)

    def public(self) -> dict[str, Any]:
        """The submission as the API shows it (the source is not echoed back)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "result": self.result,
            "error": self.error,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "attempts": self.attempts,
            "worker": self.worker,
            "go_version": self.go_version,
            "callback_url": self.callback_url,
            "callback": self.callback,
            "api_key_name": self.api_key_name,
        }

"""Log set-up for ``serve`` and ``worker``: plain text (the default) or one JSON object per line, and a
limit on repeats (the same warning at most N times a minute, then a count: logs stay bounded under abuse).

``GOSANDBOX_LOG_FORMAT=json``: each line is ``{"time", "level", "logger", "message"}`` plus
``request_id``, ``submission_id`` and ``run_id`` when the record was made while they applied
(context variables: set by the HTTP middleware for a request, by the job path for a job).

A line is never broken by what it carries: ``json.dumps`` escapes every non-ASCII character
(and the lone surrogates a non-UTF-8 byte decodes to), and long values are cut. What goes into a
record is the callers' duty: ids, verdicts and sizes, never a program's source, stdin or output.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The format of text lines (unchanged from before JSON logs existed).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The longest message kept in a JSON line; a traceback may be twice as long.
MAX_MESSAGE_CHARS = 4000

REQUEST_ID: ContextVar[str | None] = ContextVar("gosandbox_request_id", default=None)
SUBMISSION_ID: ContextVar[str | None] = ContextVar("gosandbox_submission_id", default=None)
RUN_ID: ContextVar[str | None] = ContextVar("gosandbox_run_id", default=None)
_FIELDS = {"request_id": REQUEST_ID, "submission_id": SUBMISSION_ID, "run_id": RUN_ID}


@contextmanager
def log_context(**ids: str) -> Iterator[None]:
    """Records made inside carry these ids (``request_id``, ``submission_id``, ``run_id``).

    >>> with log_context(run_id="abc"):
    ...     RUN_ID.get()
    'abc'
    """
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, ASCII only, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _cut(_message(record), MAX_MESSAGE_CHARS),
        }
        for name, variable in _FIELDS.items():
            if (value := variable.get()) is not None:
                line[name] = _cut(value, 200)
        if record.exc_info:
            line["exception"] = _cut(self.formatException(record.exc_info), 2 * MAX_MESSAGE_CHARS)
        return json.dumps(line, ensure_ascii=True, default=str)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a call with the wrong arguments: its template, not a lost line
        return str(record.msg)


def _iso(created: float) -> str:
    """UTC, with milliseconds: 2026-01-02T03:04:05.678Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger's one handler on stderr, in ``log_format`` (``text`` or ``json``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])


# --- repeats -------------------------------------------------------------------------------------

_WINDOW_S = 60.0


class RepeatLimiter(logging.Filter):
    """Lets through at most ``max_repeats`` records per minute of one logger, level and message
    template (warnings and worse; quieter records pass). The first one let through after a quiet
    spell says how many like it were dropped.
    """

    def __init__(self, max_repeats: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.max_repeats = max_repeats
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int, int]] = {}  # -> window start, let through, dropped
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self._clock()
        with self._lock:
            started, passed, dropped = self._seen.get(key, (now, 0, 0))
            if now - started >= _WINDOW_S:
                started, passed = now, 0
            if passed >= self.max_repeats:
                self._seen[key] = (started, passed, dropped + 1)
                return False
            self._seen[key] = (started, passed + 1, 0)
            if len(self._seen) > 10_000:  # a flood of distinct messages must not grow this without end
                self._seen.clear()
        if dropped:
            record.msg = f"{record.msg} [{dropped} more like this were not logged]"
        return True


_SERVER_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def limit_repeats(max_repeats: int, logger_names: tuple[str, ...] = _SERVER_LOGGERS) -> None:
    """Put one :class:`RepeatLimiter` on every handler of these loggers (the root is "")."""
    limiter = RepeatLimiter(max_repeats)
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(limiter)

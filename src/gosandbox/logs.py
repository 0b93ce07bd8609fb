"""Log set-up for ``serve`` and ``worker``: plain text (the default) or one JSON object per line, and a
limit on repeats (the same warning at most N times a minute, then a count: logs stay bounded under abuse).

``GOSANDBOX_LOG_FORMAT=json``: each line is ``{"time", "level", "logger", "message"}`` plus
``request_id``, ``submission_id`` and ``run_id`` when the record was made while they applied
(context variables: set by the HTTP middleware for a request, by the job path for a job).

A line is never broken by what it carries: ``json.dumps`` escapes every non-ASCII character
(and the lone surrogates a non-UTF-8 byte decodes to), and long values are cut. What goes into a
record is the callers' duty: ids, verdicts and sizes, never a program's source, stdin or output.
Libraries are not ours to hold to that (the MCP SDK logged every rejected argument name of a call:
850,000 characters on one line), so every record is bounded on its way out (:class:`BoundedRecords`).
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
#: The longest message kept in a line; a traceback may be twice as long.
MAX_MESSAGE_CHARS = 4000
#: The longest message kept of a library's record that may carry a caller's input (the MCP SDK's).
MAX_LIBRARY_MESSAGE_CHARS = 500
#: Loggers of libraries whose records may carry what a caller sent (argument names, error texts).
_CALLER_INPUT_LOGGERS = ("mcp", "httpx", "httpcore")

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
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            line["exception"] = _cut(text, 2 * MAX_MESSAGE_CHARS)
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
    """The root logger's one handler on stderr, in ``log_format`` (``text`` or ``json``), every record bounded."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(BoundedRecords())
    logging.basicConfig(level=level.upper(), handlers=[handler])


class BoundedRecords(logging.Filter):
    """Cuts every record to :data:`MAX_MESSAGE_CHARS` (its traceback to twice that), and the records of
    libraries that may carry a caller's input (:data:`_CALLER_INPUT_LOGGERS`) to
    :data:`MAX_LIBRARY_MESSAGE_CHARS`: no log line grows with what a caller sends.

    >>> record = logging.LogRecord("mcp.server", logging.INFO, "", 0, "rejected: %r", (["k"] * 1000,), None)
    >>> BoundedRecords().filter(record), len(record.getMessage()) < 600
    (True, True)
    """

    def filter(self, record: logging.LogRecord) -> bool:
        library = record.name.split(".", 1)[0] in _CALLER_INPUT_LOGGERS
        limit = MAX_LIBRARY_MESSAGE_CHARS if library else MAX_MESSAGE_CHARS
        message = _message(record)
        if len(message) > limit:
            record.msg, record.args = _cut(message, limit), None
        if record.exc_info and record.exc_info[1] is not None:
            text = _cut_middle(logging.Formatter().formatException(record.exc_info), 2 * limit)
            record.exc_info, record.exc_text = None, text
        return True


def _cut_middle(text: str, limit: int) -> str:
    """A traceback cut in its middle: where it began, and its last frames and the exception, are kept."""
    if len(text) <= limit:
        return text
    head = limit // 4
    return f"{text[:head]}\n... [{len(text) - limit} characters not logged] ...\n{text[len(text) - (limit - head) :]}"


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
    """Put one :class:`RepeatLimiter` on every handler of these loggers (the root is ""), and a
    :class:`BoundedRecords` where there is none yet (uvicorn's own handlers, set up after ours)."""
    limiter = RepeatLimiter(max_repeats)
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(limiter)
            if not any(isinstance(existing, BoundedRecords) for existing in handler.filters):
                handler.addFilter(BoundedRecords())

"""API keys: made at random, shown once, stored as a SHA-256 hash in the SQL store.

A key is ``gsk_`` and 32 random bytes (URL-safe base64, 43 characters): 256 bits that nobody
guesses, so a plain SHA-256 of it is as good as a slow password hash (bcrypt, scrypt, Argon2
exist to slow down guessing of *low-entropy* secrets; guessing 2^256 values is out of reach at any
speed), and it lets a node find a key by its hash with one indexed lookup. The store holds the hash
and a short prefix (``gsk_`` and 8 characters, 48 of the 256 bits) that lists show so that an
operator can tell keys apart; never the key.

Names are unique and never reused, revoked keys included: a submission's ``api_key_name`` always
means one key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import asdict, dataclass

from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from gosandbox.errors import InvalidRequest
from gosandbox.jobs.store import transaction
from gosandbox.jobs.tables import ApiKeyRow

KEY_PREFIX = "gsk_"
#: Characters of the key kept (with ``gsk_``) to tell keys apart in lists.
SHOWN_CHARS = 12
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}

_T: Table = ApiKeyRow.__table__  # type: ignore[assignment]
_C = _T.c


@dataclass(frozen=True)
class ApiKey:
    """A key as the server knows it: its name, its limits; never the key itself.

    ``daily`` 0 means no daily quota; ``max_wall_s``/``max_memory_mb`` None: the server's caps; ``admin``:
    it reads, cancels and deletes every key's submissions and shares (others see only their own).
    """

    name: str
    prefix: str
    rate_per_s: float
    burst: int
    daily: int
    max_wall_s: float | None = None
    max_memory_mb: int | None = None
    created_at: float = 0.0
    revoked_at: float | None = None
    admin: bool = False

    @property
    def refill_s(self) -> float:
        """Seconds an empty bucket takes to fill up again (the policy's window)."""
        return self.burst / self.rate_per_s


def parse_rate(text: str) -> float:
    """``5/s``, ``100/m``, ``1000/h`` → tokens per second.

    >>> parse_rate("30/m")
    0.5
    """
    match = _RATE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise InvalidRequest(f"rate {text[:40]!r} is not N/s, N/m or N/h with N > 0 (e.g. 5/s)")
    return float(match.group(1)) / _PER[match.group(2)]


def show_rate(rate_per_s: float) -> str:
    """The rate in the largest unit that gives a whole-ish number: ``5/s``, ``30/m``, ``2/h``."""
    for unit, seconds in (("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if rate_per_s * seconds >= 1 or unit == "h":
            return f"{rate_per_s * seconds:g}/{unit}"
    raise AssertionError("unreachable")


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def _api_key(row: object) -> ApiKey:
    m = row._mapping  # type: ignore[attr-defined]
    return ApiKey(m["name"], m["prefix"], m["rate_per_s"], m["burst"], m["daily"], m["max_wall_s"],
                  m["max_memory_mb"], m["created_at"], m["revoked_at"], bool(m["admin"]))  # fmt: skip


class KeyStore:
    """The ``api_keys`` table of the store's database (the migrations make it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, spec: ApiKey) -> tuple[str, ApiKey]:
        """Make a key with ``spec``'s name and limits; returns the key (the only time it exists in clear)."""
        if not NAME.match(spec.name):
            raise InvalidRequest("a key's name is 1-64 letters, digits, '_', '.' or '-'")
        key = new_key()
        stored = ApiKey(spec.name, key[:SHOWN_CHARS], spec.rate_per_s, spec.burst, spec.daily, spec.max_wall_s,
                        spec.max_memory_mb, time.time(), admin=spec.admin)  # fmt: skip
        values = {**asdict(stored), "key_hash": key_hash(key)}
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(_T).values(**values))
        except IntegrityError:
            raise InvalidRequest(f"a key named {spec.name!r} exists (or existed: names are never reused)") from None
        return key, stored

    def find(self, key: str) -> ApiKey | None:
        """The live key ``key`` is, by its hash; None when unknown or revoked."""
        query = select(_T).where(_C.key_hash == key_hash(key), _C.revoked_at.is_(None))
        with transaction(self.engine, "the key store") as connection:
            row = connection.execute(query).first()
        return _api_key(row) if row is not None else None

    def list(self) -> list[ApiKey]:
        with self.engine.connect() as connection:
            return [_api_key(row) for row in connection.execute(select(_T).order_by(_C.created_at))]

    def revoke(self, name: str) -> bool:
        """Revoke the live key ``name``; False when there is none."""
        with self.engine.begin() as connection:
            statement = update(_T).where(_C.name == name, _C.revoked_at.is_(None)).values(revoked_at=time.time())
            return bool(connection.execute(statement).rowcount)

"""Shared programs: stored once, under an id made from their bytes, in the submission store's database.

The same bytes always get the same id (as the Go Playground's do), so sharing twice stores nothing
new and every API node answers the same link. An id is :data:`ID_CHARS` base62 characters of a
salted SHA-256 (62**12 is about 3e21: a collision is not expected, and one would be met by a longer
id, never by overwriting). Shares are kept until an operator deletes them: a link does not expire.
"""

from __future__ import annotations

import hashlib
import re
import string
import time
from contextlib import AbstractContextManager

from sqlalchemy import Connection, Engine, Table, insert, select
from sqlalchemy.exc import IntegrityError

from gosandbox.errors import StoreUnavailable
from gosandbox.jobs.store import transaction
from gosandbox.jobs.submission import Owner
from gosandbox.jobs.tables import ShareRow

#: The length of a new id; a collision (never seen) takes one more character, up to :data:`MAX_ID_CHARS`.
ID_CHARS = 12
MAX_ID_CHARS = 32
BASE62 = string.digits + string.ascii_letters
#: Not secret: it keeps our ids apart from other sites' hashes of the same text.
_SALT = b"gosandbox share\n"
_ID = re.compile(rf"^[0-9A-Za-z]{{10,{MAX_ID_CHARS}}}$")
_T: Table = ShareRow.__table__  # type: ignore[assignment]


def share_id(body: bytes, length: int = ID_CHARS) -> str:
    """The id of ``body``: ``length`` base62 digits of its salted SHA-256 (its low digits: uniform).

    >>> share_id(b"package main") == share_id(b"package main") != share_id(b"package main\\n")
    True
    """
    number = int.from_bytes(hashlib.sha256(_SALT + body).digest(), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(digits)


def looks_like_share_id(text: str) -> bool:
    return bool(_ID.match(text))


class ShareStore:
    """Put and get shared programs; the table is created by the store's migrations (0003)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _transaction(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the database of shared programs")

    def put(self, body: bytes, owner: Owner) -> str:
        """Store ``body`` (if it is not already) and return its id; the first sharer is kept as its owner."""
        for length in range(ID_CHARS, MAX_ID_CHARS + 1):
            candidate = share_id(body, length)
            stored = self.get(candidate)
            if stored is None and self._insert(candidate, body, owner):
                return candidate
            if stored == body or (stored is None and self.get(candidate) == body):
                return candidate  # shared before (or just now, by another node)
        raise StoreUnavailable(f"no free id of up to {MAX_ID_CHARS} characters for this program")

    def _insert(self, candidate: str, body: bytes, owner: Owner) -> bool:
        """True when this call stored it; False when the id was taken meanwhile."""
        try:
            with self._transaction() as connection:
                row = {"id": candidate, "body": body, "created_at": time.time(), "api_key_name": owner.key_name}
                connection.execute(insert(_T).values(**row))
        except IntegrityError:
            return False
        return True

    def get(self, candidate: str) -> bytes | None:
        """The program shared under this id; None when there is none (or the id is malformed)."""
        if not looks_like_share_id(candidate):
            return None
        with self._transaction() as connection:
            body = connection.execute(select(_T.c.body).where(_T.c.id == candidate)).scalar_one_or_none()
        return None if body is None else bytes(body)

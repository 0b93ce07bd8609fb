"""Shared programs: stored once per owner, under an id made from their bytes, in the submission store's database.

The same bytes shared by the same owner always get the same id (as the Go Playground's do), so
sharing twice stores nothing new and every API node answers the same link. An id is :data:`ID_CHARS`
base62 characters of a salted SHA-256 (62**12 is about 3e21: a collision is not expected, and one
would be met by a longer id, never by overwriting). The keyless tenant's salt is fixed (its links
from before owners stay valid); an API key's adds the key's name, so two keys sharing the same
program get two links, and a key can neither read nor delete (404) what another key shared.

A share expires ``ttl_s`` after it was last shared (0: never; ``GOSANDBOX_SHARE_TTL_S``); its owner
may delete it sooner (``DELETE /p/{id}``).
"""

from __future__ import annotations

import hashlib
import re
import string
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gosandbox.errors import StoreUnavailable
from gosandbox.jobs.store import owned_by, transaction
from gosandbox.jobs.submission import KEYLESS, Owner
from gosandbox.jobs.tables import ShareRow

#: The length of a new id; a collision (never seen) takes one more character, up to :data:`MAX_ID_CHARS`.
ID_CHARS = 12
MAX_ID_CHARS = 32
BASE62 = string.digits + string.ascii_letters
#: Not secret: it keeps our ids apart from other sites' hashes of the same text.
_SALT = b"gosandbox share\n"
_ID = re.compile(rf"^[0-9A-Za-z]{{10,{MAX_ID_CHARS}}}$")
_T: Table = ShareRow.__table__  # type: ignore[assignment]
_C = _T.c


def _nothing(size: int) -> None:
    del size


def share_id(body: bytes, length: int = ID_CHARS, owner: Owner = KEYLESS) -> str:
    """The id of ``body`` shared by ``owner``: ``length`` base62 digits of its salted SHA-256 (its low digits: uniform).

    >>> share_id(b"package main") == share_id(b"package main") != share_id(b"package main\\n")
    True
    >>> share_id(b"package main") != share_id(b"package main", owner=Owner("ann"))
    True
    """
    salt = _SALT if owner.keyless else _SALT + b"key " + str(owner.key_name).encode() + b"\n"
    number = int.from_bytes(hashlib.sha256(salt + body).digest(), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(digits)


def looks_like_share_id(text: str) -> bool:
    return bool(_ID.match(text))


class ShareStore:
    """Put, get and delete shared programs, each ``owner``'s; the store's migrations make the table (0003, 0004)."""

    def __init__(self, engine: Engine, ttl_s: float = 0.0) -> None:
        self.engine, self.ttl_s = engine, ttl_s

    def _transaction(self) -> AbstractContextManager[Connection]:
        return transaction(self.engine, "the database of shared programs")

    def _expires_at(self) -> float | None:
        return time.time() + self.ttl_s if self.ttl_s else None

    def put(self, body: bytes, owner: Owner, *, admit: Callable[[int], None] = _nothing) -> str:
        """Store ``owner``'s ``body`` (if it is not already: then its expiry moves on) and return its id.

        ``admit(size)`` is asked before a new row is stored (the owner's storage quota); it raises to refuse.
        """
        for length in range(ID_CHARS, MAX_ID_CHARS + 1):
            candidate = share_id(body, length, owner)
            stored = self._row(candidate)
            if stored is None:
                admit(len(body))
                if self._insert(candidate, body, owner):
                    return candidate
                stored = self._row(candidate)  # shared just now, by another node
            if stored is not None and (bytes(stored.body), stored.api_key_name) == (body, owner.key_name):
                self._renew(candidate)
                return candidate
        raise StoreUnavailable(f"no free id of up to {MAX_ID_CHARS} characters for this program")

    def _row(self, candidate: str) -> Any:
        with self._transaction() as connection:
            return connection.execute(select(_C.body, _C.api_key_name).where(_C.id == candidate)).first()

    def _insert(self, candidate: str, body: bytes, owner: Owner) -> bool:
        """True when this call stored it; False when the id was taken meanwhile."""
        row = {"id": candidate, "body": body, "created_at": time.time(), "api_key_name": owner.key_name,
               "size_bytes": len(body), "expires_at": self._expires_at()}  # fmt: skip
        try:
            with self._transaction() as connection:
                connection.execute(insert(_T).values(**row))
        except IntegrityError:
            return False
        return True

    def _renew(self, candidate: str) -> None:
        with self._transaction() as connection:
            connection.execute(update(_T).where(_C.id == candidate).values(expires_at=self._expires_at()))

    def get(self, candidate: str, viewer: Owner = KEYLESS) -> bytes | None:
        """The program shared under this id, if ``viewer`` may read it; None when there is none (or the id is
        malformed, or it expired, or it is another key's: one answer for all, so that none is an oracle)."""
        if not looks_like_share_id(candidate):
            return None
        live = or_(_C.expires_at.is_(None), _C.expires_at > time.time())
        query = select(_C.body, _C.api_key_name).where(_C.id == candidate, live)
        with self._transaction() as connection:
            row = connection.execute(query).first()
        if row is None or not viewer.may_access(row.api_key_name):
            return None
        return bytes(row.body)

    def delete(self, candidate: str, viewer: Owner) -> bool:
        """Delete the share if ``viewer`` owns it (or is an admin); False when there is no such share of theirs."""
        if not looks_like_share_id(candidate):
            return False
        conditions = [_C.id == candidate] + ([] if viewer.admin else [owned_by(_C.api_key_name, viewer)])
        with self._transaction() as connection:
            return bool(connection.execute(delete(_T).where(*conditions)).rowcount)

    def purge(self, now: float) -> int:
        """Delete the shares that expired before ``now``; return how many."""
        with self._transaction() as connection:
            return int(connection.execute(delete(_T).where(_C.expires_at < now)).rowcount)

"""Storage quotas: the bytes one owner (an API key, or the keyless tenant) keeps in the store.

What counts: each submission's ``stored_bytes`` (the JSON of its request, result and stored events)
and each share's ``size_bytes``, until they are purged (``GOSANDBOX_RESULT_TTL_S`` after a job ends,
``GOSANDBOX_SHARE_TTL_S`` after a program was last shared) or deleted. Something that would take
an owner past ``limit_bytes`` is refused before it is stored: 429 (:class:`StorageQuotaExceeded`,
with the seconds until the owner's oldest finished job is purged) or, when it alone is larger than
the whole quota, 413. The check and the insert are two steps: owners racing themselves can pass
the quota by what their concurrent requests hold (a few requests' bodies), not more.
"""

from __future__ import annotations

import math
import time

from sqlalchemy import Engine, Table, func, select

from gosandbox.errors import PayloadTooLarge, StorageQuotaExceeded
from gosandbox.jobs.store import owned_by, transaction
from gosandbox.jobs.submission import Owner
from gosandbox.jobs.tables import ShareRow, SubmissionRow

_SUBMISSIONS: Table = SubmissionRow.__table__  # type: ignore[assignment]
_SHARES: Table = ShareRow.__table__  # type: ignore[assignment]
#: Retry-After when nothing of the owner's is due to be purged (its jobs still run, or it keeps only shares).
_RETRY_UNKNOWN_S = 60
_MIB = 1024 * 1024


def _whose(owner: Owner) -> str:
    return "the keyless tenant" if owner.keyless else f"API key {owner.key_name!r}"


class StorageQuota:
    """``limit_bytes`` per owner (0: none) over the submissions and shares in ``engine``'s store."""

    def __init__(self, engine: Engine, limit_bytes: int, result_ttl_s: float) -> None:
        self.engine, self.limit_bytes, self.result_ttl_s = engine, limit_bytes, result_ttl_s

    def used(self, owner: Owner) -> int:
        """The bytes ``owner`` keeps now (submissions and shares)."""
        jobs = select(func.coalesce(func.sum(_SUBMISSIONS.c.stored_bytes), 0)).where(
            owned_by(_SUBMISSIONS.c.api_key_name, owner)
        )
        shares = select(func.coalesce(func.sum(_SHARES.c.size_bytes), 0)).where(owned_by(_SHARES.c.api_key_name, owner))
        with transaction(self.engine) as connection:
            return int(connection.scalar(jobs) or 0) + int(connection.scalar(shares) or 0)

    def submission_bytes(self) -> int:
        """The bytes every owner's submissions take (``/metrics``)."""
        with transaction(self.engine) as connection:
            return int(connection.scalar(select(func.coalesce(func.sum(_SUBMISSIONS.c.stored_bytes), 0))) or 0)

    def share_bytes(self) -> int:
        """The bytes every owner's shares take (``/metrics``)."""
        with transaction(self.engine) as connection:
            return int(connection.scalar(select(func.coalesce(func.sum(_SHARES.c.size_bytes), 0))) or 0)

    def check(self, owner: Owner, adding: int) -> None:
        """Refuse ``adding`` more bytes of ``owner``'s that would pass the quota; nothing is reserved."""
        if not self.limit_bytes:
            return
        if adding > self.limit_bytes:
            raise PayloadTooLarge(f"this would store {adding} bytes; the storage quota of {_whose(owner)} is "
                                  f"{self.limit_bytes} bytes in all")  # fmt: skip
        used = self.used(owner)
        if used + adding > self.limit_bytes:
            raise StorageQuotaExceeded(
                f"{_whose(owner)} keeps {used / _MIB:.1f} MiB of submissions and shares; its storage quota is "
                f"{self.limit_bytes / _MIB:.1f} MiB: delete some (DELETE /p/{{id}}, DELETE /judge0/submissions/"
                "{token}) or wait until finished jobs are purged",
                retry_after_s=self._retry_after_s(owner),
            )

    def _retry_after_s(self, owner: Owner) -> int:
        """Seconds until the owner's oldest finished job is purged (the sweeper runs every few seconds)."""
        oldest = select(func.min(_SUBMISSIONS.c.finished_at)).where(owned_by(_SUBMISSIONS.c.api_key_name, owner))
        with transaction(self.engine) as connection:
            finished_at = connection.scalar(oldest)
        if finished_at is None:
            return _RETRY_UNKNOWN_S
        return max(1, math.ceil(float(finished_at) + self.result_ttl_s - time.time()))

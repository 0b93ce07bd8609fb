"""What answers cost their API key: one rate-limit unit per :data:`READ_UNIT_BYTES` of body they carry.

A request that may start a job pays one unit before its body is read (:mod:`gosandbox.auth.middleware`);
every answer, a read's too, then pays for its size once it is sent. Each key's answer bytes are summed
in this process, and each whole MiB is drawn from the key's token bucket, past empty if need be
(:meth:`gosandbox.auth.ratelimit.Limiter.debit`): a status poll of a few KB costs a few thousandths
of a unit (paid once a thousand of them add up to a MiB), a 3 MiB result three units, and a key in
debt is refused (429, with ``Retry-After``) until its bucket has refilled past the debt. The daily
quota counts jobs, not bytes. What a node has summed but not drawn when it stops (less than a unit
per key) is forgiven.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from gosandbox.auth.keys import ApiKey
from gosandbox.auth.ratelimit import Limiter
from gosandbox.errors import BackendUnavailable

logger = logging.getLogger(__name__)

#: The body bytes one rate-limit unit pays for.
READ_UNIT_BYTES = 1024 * 1024


class AnswerMeter:
    """Draws answers' sizes from their keys' buckets (see the module's docstring)."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self._lock = threading.Lock()
        self._owed: dict[str, int] = {}  # key name -> answer bytes not drawn yet (less than a unit)

    async def charge(self, key: ApiKey, body_bytes: int) -> None:
        """``body_bytes`` were sent to ``key``'s client: draw the whole units they complete (never raises)."""
        with self._lock:
            units, self._owed[key.name] = divmod(self._owed.get(key.name, 0) + body_bytes, READ_UNIT_BYTES)
        if not units:
            return
        if not self.limiter.blocking:
            self.limiter.debit(key, units)
            return
        try:
            await asyncio.to_thread(self.limiter.debit, key, units)
        except BackendUnavailable as exc:  # the answer was sent; the next one will find Redis again
            logger.warning("could not charge %d unit(s) of answers to key %s: %s", units, key.name, exc)

"""The calendar's part in consent: a consent past its last day is ended by an event of its
own (ConsentExpired), as a revocation is, so plans takes family therapy out with the last
live consent and integrators reading family's topic learn it.

The worker runs this on start and then every ``consent_expiry_seconds``. Family's own
views do not wait for it: they count a consent past its last day as expired already.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from iopnet.eventstore import Cause, ConcurrencyConflict
from iopnet.rounds import calendar_job, each_due
from services.family import commands, store
from services.family.settings import FamilySettings

log = logging.getLogger(__name__)


async def expire_due_consents(pool: asyncpg.Pool, now: datetime) -> int:
    """Expire the consents due at ``now``, one circle per transaction; returns how many
    circles were looked at."""
    return await each_due(pool, now, store.circles_with_consents_due_to_expire, _expire)


async def _expire(pool: asyncpg.Pool, patient_id: str, now: datetime, cause: Cause) -> None:
    try:
        async with pool.acquire() as conn, conn.transaction():
            await commands.expire_consents(commands.unit_of_work(conn, cause), patient_id, now)
    except ConcurrencyConflict:
        # A command changed the circle meanwhile; the next round looks again.
        log.info("consent expiry of a circle deferred: it changed meanwhile")


#: The background job (``SPEC.background``).
expire_consents = calendar_job(expire_due_consents, FamilySettings,
                               lambda settings: settings.consent_expiry_seconds,
                               "circles with consents expired")

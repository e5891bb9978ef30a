"""The calendar's part in attendance: a program week that is over is held against the
site's minimum even when some of its attendance was never recorded, because a patient who
stopped coming, with nobody recording it, is the case the flag exists for.

The worker runs the review on start and then every ``week_review_seconds``; each
enrollment is looked at once per site-local day at most. Recording attendance flags a
finished week at once; this only catches the weeks nobody finished.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from iopnet.eventstore import Cause, ConcurrencyConflict
from iopnet.rounds import calendar_job, each_due
from services.sessions import commands, store
from services.sessions.settings import SessionsSettings

log = logging.getLogger(__name__)


async def review_due_enrollments(pool: asyncpg.Pool, now: datetime) -> int:
    """Review every enrollment due at ``now``, one transaction each; returns how many."""
    return await each_due(pool, now, store.enrollments_due_for_week_review, _review)


async def _review(pool: asyncpg.Pool, patient_id: str, now: datetime, cause: Cause) -> None:
    try:
        async with pool.acquire() as conn, conn.transaction():
            reviewed_on = await commands.review_week(commands.unit_of_work(conn, cause),
                                                     patient_id, now)
            if reviewed_on is not None:
                await store.mark_weeks_reviewed(conn, patient_id, reviewed_on)
    except ConcurrencyConflict:
        # Attendance was recorded meanwhile, which reviews the weeks itself; the next
        # round looks again.
        log.info("weekly attendance review of an enrollment deferred: it changed meanwhile")


#: The background job (``SPEC.background``).
review_finished_weeks = calendar_job(review_due_enrollments, SessionsSettings,
                                     lambda settings: settings.week_review_seconds,
                                     "enrollments reviewed")

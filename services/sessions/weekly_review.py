"""The calendar's part in attendance: a program week that is over is held against the
site's minimum even when some of its attendance was never recorded, because a patient who
stopped coming, with nobody recording it, is the case the flag exists for.

The worker runs the review on start and then every ``week_review_seconds``; each
enrollment is looked at once per site-local day at most. Recording attendance flags a
finished week at once; this only catches the weeks nobody finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime

import asyncpg

from iopnet.envelope import utc_now
from iopnet.eventstore import Cause, ConcurrencyConflict
from iopnet.settings import ServiceSettings
from services.sessions import store
from services.sessions.domain.schedule import local_date
from services.sessions.settings import SessionsSettings

log = logging.getLogger(__name__)
BATCH = 200


async def review_finished_weeks(pool: asyncpg.Pool, settings: ServiceSettings,
                                stop: asyncio.Event) -> None:
    """The background job (``SPEC.background``): review until told to stop."""
    assert isinstance(settings, SessionsSettings)
    while not stop.is_set():
        reviewed = await review_due_enrollments(pool, utc_now())
        if reviewed:
            log.info("weekly attendance review: %d enrollments", reviewed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.week_review_seconds)


async def review_due_enrollments(pool: asyncpg.Pool, now: datetime) -> int:
    """Review every enrollment due at ``now``, one transaction each; returns how many."""
    cause = Cause(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()))
    reviewed, last = 0, ""
    while True:
        async with pool.acquire() as conn:
            due = await store.enrollments_due_for_week_review(conn, now, last, BATCH)
        for patient_id in due:
            await _review(pool, patient_id, now, cause)
        reviewed += len(due)
        if len(due) < BATCH:
            return reviewed
        last = due[-1]


async def _review(pool: asyncpg.Pool, patient_id: str, now: datetime, cause: Cause) -> None:
    try:
        async with pool.acquire() as conn, conn.transaction():
            enrollments = store.Enrollments(conn)
            enrollment = await enrollments.get(patient_id)
            if enrollment is None:
                return
            enrollment.close_past_weeks(now, await store.attendance_policy(conn, enrollment))
            await enrollments.save(enrollment, cause)
            today = local_date(now, enrollment.known_terms.time_zone)
            await store.mark_weeks_reviewed(conn, patient_id, today)
    except ConcurrencyConflict:
        # Attendance was recorded meanwhile, which reviews the weeks itself; the next
        # round looks again.
        log.info("weekly attendance review of an enrollment deferred: it changed meanwhile")

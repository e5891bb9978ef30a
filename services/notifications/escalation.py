"""The worker's escalation job: an urgent alert no clinician acknowledged in the site's
window goes to the site's second contact (domain/alerts.py).

Due times live in the ``alerts`` table (derived from the alert streams), never in memory:
a worker restarted, or another replica, finds every overdue alert on its next round, and
the alert's stream makes sure each escalates once.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from iopnet.eventstore import Cause, ConcurrencyConflict
from iopnet.rounds import calendar_job, each_due
from services.notifications import commands, store
from services.notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)


async def escalate_overdue_alerts(pool: asyncpg.Pool, now: datetime) -> int:
    """Escalate the alerts overdue at ``now``, each in its own transaction."""
    return await each_due(pool, now, store.alerts_due_for_escalation, _escalate)


async def _escalate(pool: asyncpg.Pool, alert_id: str, now: datetime, cause: Cause) -> None:
    try:
        async with pool.acquire() as conn, conn.transaction():
            await commands.escalate_alert(commands.unit_of_work(conn, cause), alert_id, now)
    except ConcurrencyConflict:
        # Acknowledged (or escalated by another replica) meanwhile: the stream decides.
        log.info("escalation of an alert deferred: it changed meanwhile")


#: The background job (``SPEC.background``).
escalate_alerts = calendar_job(escalate_overdue_alerts, NotificationsSettings,
                               lambda settings: settings.alert_escalation_poll_seconds,
                               "urgent alerts escalated")

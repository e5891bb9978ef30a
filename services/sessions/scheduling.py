"""Scheduling that reaches across enrollments: patients waiting for a program's groups,
and the waitlist of a group session. Both run inside the caller's transaction (a route's
or a projector's), so what they record commits, or not, with what caused it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from iopnet.db import Connection
from iopnet.eventstore import Cause
from services.sessions import store
from services.sessions.domain.schedule import Group, local_date


async def schedule_waiting(conn: Connection, site_id: str, program_id: str, now: datetime,
                           cause: Cause) -> list[str]:
    """Give the program's groups to its enrollments short of their days a week (those
    admitted before it had groups, above all), first enrolled first; returns the patients
    scheduled. Running it again schedules nothing twice."""
    groups = await store.groups_of(conn, site_id, program_id)
    if not groups:
        return []
    await store.hold_groups(conn, groups)
    enrollments = store.Enrollments(conn)
    scheduled = []
    for patient_id in await store.enrollments_short_of_days(conn, site_id, program_id):
        enrollment = await enrollments.get(patient_id)
        if enrollment is None:
            continue
        today = local_date(now, enrollment.known_terms.time_zone)
        missing = enrollment.missing_occurrences(groups, today)
        if not missing:
            continue
        taken = await store.occupancy(conn, [o.session_id for o in missing if o.capacity])
        enrollment.schedule_missing(missing, taken)
        await enrollments.save(enrollment, cause)
        scheduled.append(patient_id)
    return scheduled


async def fill_freed_places(conn: Connection, session_ids: Sequence[str], now: datetime,
                            cause: Cause) -> list[tuple[str, str]]:
    """Places at group sessions were given up (already saved in this transaction): the
    earliest waitlisted patients take them, up to each group's capacity. Sessions that have
    already started are left alone: a place in the past is of no use, and would count as a
    session the patient was expected at. Returns (session id, patient id) promoted."""
    upcoming: list[tuple[str, Group]] = []
    for session_id in session_ids:
        found = await store.group_of_session(conn, session_id)
        if found is not None and found[1] > now:
            upcoming.append((session_id, found[0]))
    await store.hold_groups(conn, [group for _, group in upcoming])
    enrollments = store.Enrollments(conn)
    promoted = []
    for session_id, group in upcoming:
        taken = (await store.occupancy(conn, [session_id])).get(session_id, 0)
        for patient_id in await store.waitlist(conn, session_id):
            if taken >= group.capacity:
                break
            enrollment = await enrollments.get(patient_id)
            if enrollment is None or not enrollment.take_place(session_id):
                continue
            await enrollments.save(enrollment, cause)
            promoted.append((session_id, patient_id))
            taken += 1
    return promoted

"""Sessions' use cases, one function each: what a route, a reaction to another service's
event and the calendar job ask of sessions. Each runs in the caller's unit of work (one
transaction), loads the aggregates it needs from their own streams, and saves them.

Scheduling reaches across enrollments in two places: patients waiting for a program's
groups, and the waitlist of a group session. Both run in the same unit of work as what
caused them, so what they record commits, or not, with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from iopnet.auth.registry import site_time_zone
from iopnet.catalog import Instrument, PatientAdmitted, PlanRevised
from iopnet.db import Connection
from iopnet.eventstore import Cause
from iopnet.unit_of_work import UnitOfWork
from services.sessions import projections, store
from services.sessions.domain import (
    AttendanceStatus,
    Enrollment,
    Group,
    Program,
    SessionsRuleBroken,
    plan_change,
    program_schedule,
    terms_of,
)
from services.sessions.domain.outcomes import Measure
from services.sessions.domain.plan import WeeklyPlan
from services.sessions.domain.program import IdTaken
from services.sessions.domain.schedule import choose_groups, local_date
from services.sessions.domain.service_hours import weekly_hours


class UnknownPatient(LookupError):
    """No enrollment of the patient here (for the caller's site)."""


class UnknownProgram(LookupError):
    """The site has no such program."""


def unit_of_work(conn: Connection, cause: Cause) -> UnitOfWork:
    """A unit of work on sessions' event store, projecting its own events."""
    return UnitOfWork(conn, store.EVENTS, cause, project=projections.project)


# Programs and groups --------------------------------------------------------------------


async def define_program(uow: UnitOfWork, site_id: str, program_id: str, name: str,
                         now: datetime) -> bool:
    """Define a program of the site; False when it already was, alike. Patients may have
    been admitted to it before it was defined here: the groups it has are theirs now."""
    await store.hold_program(uow.conn, site_id, program_id)
    key = Program.key(site_id, program_id)
    program = await uow.load(Program, key) or Program(key)
    created = program.define(name)
    await uow.save(program)
    await _schedule_waiting(uow, program, now)
    return created


@dataclass(frozen=True)
class GroupAdded:
    created: bool
    time_zone: str


async def add_group(uow: UnitOfWork, group: Group, now: datetime) -> GroupAdded:
    """Add a weekly group to a program. Patients of the program short of their days a week
    (admitted before it had groups, above all) are scheduled into its groups, as at
    admission."""
    await store.hold_program(uow.conn, group.site_id, group.program_id)
    program = await uow.load(Program, Program.key(group.site_id, group.program_id))
    if program is None or not program.defined:
        raise UnknownProgram(group.program_id)
    elsewhere = await store.find_group(uow.conn, group.site_id, group.group_id)
    if elsewhere is not None and elsewhere.program_id != group.program_id:
        raise IdTaken("group", group.group_id)  # group ids are the site's, not a program's
    created = program.add_group(group)
    await uow.save(program)
    await _schedule_waiting(uow, program, now)
    return GroupAdded(created, await site_time_zone(uow.conn, group.site_id))


async def _schedule_waiting(uow: UnitOfWork, program: Program, now: datetime) -> list[str]:
    """Give the program's groups to its enrollments short of their days a week, first
    enrolled first; returns the patients scheduled. Doing it again schedules nothing
    twice."""
    groups = program.schedule_groups()
    if not groups:
        return []
    await store.hold_groups(uow.conn, groups)
    scheduled = []
    for patient_id in await store.enrollments_short_of_days(
            uow.conn, program.site_id, program.program_id, now):
        enrollment = await uow.load(Enrollment, patient_id)
        if enrollment is None:
            continue
        if not enrollment.sessions and not enrollment.may_schedule(
                weekly_hours(choose_groups(groups, enrollment.known_terms.days_per_week))):
            await uow.save(enrollment)
            continue
        missing = enrollment.missing_occurrences(
            groups, local_date(now, enrollment.known_terms.time_zone))
        if not missing:
            continue
        taken = await store.occupancy(uow.conn, [o.session_id for o in missing if o.capacity])
        enrollment.schedule_missing(missing, taken)
        await uow.save(enrollment)
        scheduled.append(patient_id)
    return scheduled


async def _groups(uow: UnitOfWork, site_id: str, program_id: str) -> list[Group]:
    program = await uow.load(Program, Program.key(site_id, program_id))
    return program.schedule_groups() if program is not None else []


# The enrollment, from admission to the program's end ------------------------------------


async def enroll(uow: UnitOfWork, admitted: PatientAdmitted) -> None:
    """Keep the admission's terms and schedule the program's groups on the patient's days,
    once; a full group session waitlists. A program without groups yet leaves the
    enrollment awaiting its schedule; groups that cannot make an IOP week on those days
    (9 hours at least, under 20) schedule nothing and record ScheduleRefused."""
    zone = await site_time_zone(uow.conn, admitted.site_id)
    enrollment = (await uow.load(Enrollment, admitted.patient_id)
                  or Enrollment(admitted.patient_id))
    enrollment.open(terms_of(admitted, zone))
    terms = enrollment.known_terms
    await store.hold_program(uow.conn, terms.site_id, terms.program_id)
    groups = await _groups(uow, terms.site_id, terms.program_id)
    if groups and not enrollment.sessions and not enrollment.may_schedule(
            weekly_hours(choose_groups(groups, terms.days_per_week))):
        await uow.save(enrollment)  # refused, and recorded: the clinicians see why
        return
    await store.hold_groups(uow.conn, groups)
    occurrences = program_schedule(
        terms.patient_id, terms.clinician_id, groups, terms.days_per_week,
        terms.starts_on, terms.ends_on, terms.time_zone,
    )
    taken = await store.occupancy(uow.conn, [o.session_id for o in occurrences if o.capacity])
    enrollment.schedule(occurrences, taken)
    await uow.save(enrollment)


async def adjust_schedule(uow: UnitOfWork, revised: PlanRevised, previous: WeeklyPlan | None,
                          now: datetime) -> None:
    """Follow a plan revision: cancel future sessions of the modalities it dropped, schedule
    the ones it added; places given up go to the waitlist. ``previous`` is the plan the
    revision is measured against."""
    enrollment = await _enrolled(uow, revised.patient_id)
    if enrollment is None:
        return  # not enrolled here (yet): the plan is kept for when it matters
    terms = enrollment.known_terms
    change = plan_change(revised.interventions, revised.changes, previous)
    groups = await _groups(uow, terms.site_id, terms.program_id)
    additions = enrollment.additions_for(change, groups, now)
    added = {a.group_id for a in additions}
    await store.hold_groups(uow.conn, [g for g in groups if g.group_id in added])
    taken = await store.occupancy(uow.conn, [a.session_id for a in additions if a.capacity])
    freed = enrollment.adjust_to_plan(change, additions, taken, now)
    await uow.save(enrollment)
    await _fill_freed_places(uow, enrollment, freed, now)


@dataclass(frozen=True)
class DaysChange:
    patient_id: str
    days_per_week: int
    clinician_id: str
    reason: str


async def change_days(uow: UnitOfWork, change: DaysChange, now: datetime) -> Enrollment:
    """A clinician makes the patient's schedule again with other days a week: refused (422
    naming days_per_week, with the hours reached) unless the program's groups on those
    days make an IOP week; days given up free their places for the waitlist."""
    enrollment = await enrollment_of(uow, change.patient_id)
    terms = enrollment.known_terms
    groups = await _groups(uow, terms.site_id, terms.program_id)
    week = weekly_hours(choose_groups(groups, change.days_per_week))
    freed = enrollment.change_days(change.days_per_week, week, change.clinician_id,
                                   change.reason, now)
    missing = enrollment.missing_occurrences(groups, local_date(now, terms.time_zone))
    await store.hold_groups(uow.conn, [g for g in groups if g.group_id in week.group_ids])
    taken = await store.occupancy(uow.conn, [o.session_id for o in missing if o.capacity])
    enrollment.schedule_missing(missing, taken)
    await uow.save(enrollment)
    await _fill_freed_places(uow, enrollment, freed, now)
    return enrollment


async def cancel_remaining(uow: UnitOfWork, patient_id: str, effective_on: date, reason: str,
                           now: datetime) -> None:
    """The program ends (step-down, step-up, discharge): the enrollment ends and every
    session after ``effective_on`` is cancelled; places given up go to the waitlist."""
    enrollment = await _enrolled(uow, patient_id)
    if enrollment is None:
        return
    enrollment.end(effective_on, reason)
    freed = enrollment.cancel_after(effective_on, reason)
    await uow.save(enrollment)
    await _fill_freed_places(uow, enrollment, freed, now)


async def transfer(uow: UnitOfWork, patient_id: str, site_id: str, now: datetime) -> None:
    """The patient's care moved to another site: the old site's places still ahead go to
    its waitlist, and what the enrollment records next is the new site's."""
    enrollment = await _enrolled(uow, patient_id)
    if enrollment is not None:
        freed = enrollment.transfer(site_id, now)
        await uow.save(enrollment)
        await _fill_freed_places(uow, enrollment, freed, now)


async def _enrolled(uow: UnitOfWork, patient_id: str) -> Enrollment | None:
    """The patient's enrollment, when the patient is enrolled here and not forgotten (the
    enrollments row is gone then, while the stream stays)."""
    if not await store.enrollment_visible(uow.conn, patient_id):
        return None
    enrollment = await uow.load(Enrollment, patient_id)
    return enrollment if enrollment is not None and enrollment.terms is not None else None


async def _fill_freed_places(uow: UnitOfWork, holder: Enrollment, session_ids: Sequence[str],
                             now: datetime) -> list[tuple[str, str]]:
    """``holder`` gave up places at group sessions (already saved): the earliest waitlisted
    patients take them, up to each group's capacity. Sessions that have already started
    are left alone: a place in the past is of no use, and would count as a session the
    patient was expected at. Returns (session id, patient id) promoted."""
    upcoming = [holder.sessions[i] for i in session_ids if holder.sessions[i].starts_at > now]
    program_id = holder.known_terms.program_id
    groups: dict[str, Group] = {}
    for site_id in {session.site_id for session in upcoming}:
        groups |= {g.group_id: g for g in await _groups(uow, site_id, program_id)}
    await store.hold_groups(uow.conn, groups.values())
    promoted: dict[str, list[str]] = {}  # patient → the places they take
    for session in upcoming:
        group = groups.get(session.group_id or "")
        if group is None:
            continue
        taken = (await store.occupancy(uow.conn, [session.session_id])).get(
            session.session_id, 0)
        for patient_id in await store.waitlist(uow.conn, session.session_id):
            if taken >= group.capacity:
                break
            enrollment = await uow.load(Enrollment, patient_id)
            if enrollment is None or not enrollment.may_take_place(session.session_id):
                continue
            promoted.setdefault(patient_id, []).append(session.session_id)
            taken += 1
    for patient_id, session_ids in promoted.items():
        enrollment = await uow.load(Enrollment, patient_id)
        assert enrollment is not None
        enrollment.take_places(session_ids)  # one SessionsScheduled for each patient
        await uow.save(enrollment)
    return [(s, p) for p, session_ids in promoted.items() for s in session_ids]


# Attendance and outcomes ----------------------------------------------------------------


async def enrollment_of(uow: UnitOfWork, patient_id: str) -> Enrollment:
    """The enrollment the caller may see, from its stream; UnknownPatient otherwise."""
    enrollment = await _enrolled(uow, patient_id)
    if enrollment is None:
        raise UnknownPatient(patient_id)
    return enrollment


async def record_attendance(uow: UnitOfWork, patient_id: str, session_id: str,
                            status: AttendanceStatus, late_minutes: int
                            ) -> tuple[Enrollment, bool]:
    """Attended or late → SessionAttended; absent or excused → SessionMissed, with outreach
    and the week's minimum checked. False when this very record was already made."""
    enrollment = await enrollment_of(uow, patient_id)
    policy = await store.attendance_policy(uow.conn, enrollment)
    new = enrollment.record_attendance(session_id, status, late_minutes, policy)
    await uow.save(enrollment)
    return enrollment, new


@dataclass(frozen=True)
class OutcomeTaken:
    """A measure taken in the program: the PHQ-9 or GAD-7 items, or the C-SSRS answers."""

    instrument: Instrument
    measured_on: date
    items: Sequence[int] = ()
    answers: Mapping[str, bool] = field(default_factory=dict)


async def record_outcome(uow: UnitOfWork, patient_id: str, measure_id: str,
                         taken: OutcomeTaken) -> tuple[Enrollment, Measure]:
    """A PHQ-9, GAD-7 or C-SSRS taken in the program, and the risk signals it raises (a
    PHQ-9's item 9 also makes a C-SSRS due that day)."""
    enrollment = await enrollment_of(uow, patient_id)
    match taken.instrument:
        case Instrument.PHQ9:
            enrollment.measure_phq9(measure_id, taken.items, taken.measured_on)
        case Instrument.GAD7:
            enrollment.measure_gad7(measure_id, taken.items, taken.measured_on)
        case Instrument.CSSRS:
            enrollment.measure_cssrs(measure_id, taken.answers, taken.measured_on)
        case _:
            raise SessionsRuleBroken(f"{taken.instrument.value} is not measured in the program")
    await uow.save(enrollment)
    return enrollment, enrollment.measures[-1]


async def review_week(uow: UnitOfWork, patient_id: str, now: datetime) -> date | None:
    """Flag the program weeks over by ``now`` under the site's minimum, recorded in full or
    not; returns the site-local day reviewed (None: nothing to review)."""
    enrollment = await _enrolled(uow, patient_id)
    if enrollment is None:
        return None
    enrollment.close_past_weeks(now, await store.attendance_policy(uow.conn, enrollment))
    await uow.save(enrollment)
    return local_date(now, enrollment.known_terms.time_zone)

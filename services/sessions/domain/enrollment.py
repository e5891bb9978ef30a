"""A patient's enrollment: the sessions scheduled, attendance, and outcome measures.

The aggregate's stream (``enrollment-<patient_id>``) holds everything it
knows: the terms of the admission (start, days a week, weeks, clinician,
baseline, the site's time zone) in a private ``EnrollmentOpened``, its end and
transfers, and what sessions decided. Those private facts may follow the
published ones in a stream upgraded from an earlier release: no rule here
depends on their place in it.

Each scheduling decision (the admission's weeks, a plan revision's additions, a change
of days, places taken from the waitlist) is one ``SessionsScheduled`` listing its
sessions; streams of earlier releases hold one ``SessionScheduled`` a session, read as
a schedule of one. A session the patient already has is replaced by a newer one (the
latest is the truth). That is how a waitlisted patient takes a place that freed up: the
same session id again, with ``waitlisted=False``; and how a cancelled session is
scheduled again. Attendance is only ever recorded on a held place, so a replacement
never loses one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from iopnet import catalog
from iopnet.aggregate import Aggregate
from iopnet.catalog import (
    AttendanceBelowMinimum,
    CssrsDue,
    DomainEvent,
    Instrument,
    Modality,
    OutcomeMeasured,
    OutreachNeeded,
    PatientAdmitted,
    RiskSignal,
    RiskSignalRaised,
    ScheduleRefused,
    SessionAttended,
    SessionKind,
    SessionMissed,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    schedule_of,
)
from services.sessions.domain.attendance import (
    AttendancePolicy,
    AttendanceStatus,
    InvalidAttendance,
    SessionAttendance,
    absence_streak,
    week_hours,
)
from services.sessions.domain.events import (
    EnrollmentDaysChanged,
    EnrollmentEnded,
    EnrollmentOpened,
    EnrollmentTransferred,
)
from services.sessions.domain.instruments import CssrsSinceLastVisit, Gad7
from services.sessions.domain.outcomes import Measure, Phq9, program_week, risk_signals
from services.sessions.domain.plan import PlanChange
from services.sessions.domain.schedule import (
    HELD_BY_FAMILY,
    HOURS_PER_PROGRAM_DAY,
    Group,
    Occurrence,
    choose_groups,
    group_occurrences,
    individual_occurrences,
    local_date,
)
from services.sessions.domain.service_hours import ScheduleOutsideHours, WeeklyHours


class SessionsRuleBroken(Exception):
    """A command the enrollment's current state does not allow."""


class UnknownSession(LookupError):
    """The patient is not scheduled for that session."""


class EnrollmentStatus(StrEnum):
    AWAITING_SCHEDULE = "awaiting_schedule"
    #: The program's groups cannot make an IOP week on the patient's days (ScheduleRefused).
    SCHEDULE_REFUSED = "schedule_refused"
    SCHEDULED = "scheduled"
    ENDED = "ended"


@dataclass(frozen=True)
class EnrollmentTerms:
    """What the admission decided, as sessions keeps it."""

    patient_id: str
    site_id: str
    program_id: str
    clinician_id: str
    starts_on: date
    days_per_week: int
    planned_weeks: int
    time_zone: str
    baseline_phq9: int | None = None
    ended_on: date | None = None

    @property
    def ends_on(self) -> date:
        """The day after the last program day."""
        return self.starts_on + timedelta(weeks=self.planned_weeks)

    @property
    def weekly_hours_target(self) -> int:
        return self.days_per_week * HOURS_PER_PROGRAM_DAY

    def week_of(self, day: date) -> int:
        """The program week (0-based) a local date falls in."""
        return (day - self.starts_on).days // 7


def opened(terms: EnrollmentTerms) -> EnrollmentOpened:
    """The event that keeps the terms (an end is an event of its own)."""
    return EnrollmentOpened.model_validate(
        {k: v for k, v in asdict(terms).items() if k != "ended_on"})


def terms_opened(event: EnrollmentOpened) -> EnrollmentTerms:
    return EnrollmentTerms(**event.model_dump())


def terms_of(admitted: PatientAdmitted, time_zone: str) -> EnrollmentTerms:
    return EnrollmentTerms(
        patient_id=admitted.patient_id, site_id=admitted.site_id,
        program_id=admitted.program_id, clinician_id=admitted.clinician_id,
        starts_on=admitted.start_date, days_per_week=admitted.days_per_week,
        planned_weeks=admitted.planned_weeks, time_zone=time_zone,
        baseline_phq9=admitted.baseline_phq9,
    )


@dataclass(frozen=True)
class Attendance:
    status: AttendanceStatus
    late_minutes: int = 0
    credited_minutes: int = 0


@dataclass
class ScheduledSession:
    session_id: str
    kind: SessionKind
    modality: Modality
    group_id: str | None
    starts_at: datetime
    duration_minutes: int
    clinician_id: str
    waitlisted: bool
    #: The site whose group or clinician holds it (the patient may have moved since).
    site_id: str
    cancelled: bool = False
    #: What cancelled the session (e.g. ``PlanRevised``), while it is cancelled.
    cancel_reason: str | None = None
    attendance: Attendance | None = None

    @property
    def status(self) -> str:
        if self.attendance is not None:
            return self.attendance.status.value
        if self.cancelled:
            return "cancelled"
        return "waitlisted" if self.waitlisted else "scheduled"

    @property
    def counts(self) -> bool:
        """Whether the session is one the patient is expected at."""
        return not (self.cancelled or self.waitlisted)

    @property
    def pending(self) -> bool:
        """Still ahead: neither cancelled nor recorded."""
        return not self.cancelled and self.attendance is None


def _scheduled(session: ScheduledSession, *, waitlisted: bool) -> catalog.ScheduledSession:
    """The session as a schedule lists it again (a place taken, say)."""
    return catalog.ScheduledSession(
        session_id=session.session_id, kind=session.kind, modality=session.modality,
        group_id=session.group_id, starts_at=session.starts_at,
        duration_minutes=session.duration_minutes, clinician_id=session.clinician_id,
        waitlisted=waitlisted)


@dataclass(frozen=True)
class WeekSummary:
    number: int
    week_start: date
    minutes: int
    below_minimum: bool
    finished: bool
    flagged: bool

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)


@dataclass
class _Flags:
    outreach: list[OutreachNeeded] = field(default_factory=list)
    outreach_streaks: set[str] = field(default_factory=set)
    weeks_below_minimum: dict[date, AttendanceBelowMinimum] = field(default_factory=dict)
    risk_signals: list[RiskSignalRaised] = field(default_factory=list)


class Enrollment(Aggregate):
    stream_prefix = "enrollment"

    def __init__(self, patient_id: str) -> None:
        super().__init__(patient_id)
        self.terms: EnrollmentTerms | None = None
        #: What ended the program (``SteppedDown``, …), once it ended.
        self.end_reason: str | None = None
        self.sessions: dict[str, ScheduledSession] = {}
        self.measures: list[Measure] = []
        #: The risk signals each measure raised, by measure id.
        self.measure_signals: dict[str, list[RiskSignal]] = {}
        self.flags = _Flags()
        #: The latest refusal to schedule, while nothing is scheduled.
        self.refusal: ScheduleRefused | None = None
        #: C-SSRS screens a PHQ-9's item 9 made due, done or not.
        self.cssrs_due: list[CssrsDue] = []

    @property
    def known_terms(self) -> EnrollmentTerms:
        if self.terms is None:
            raise SessionsRuleBroken("the patient's admission is not known here")
        return self.terms

    @property
    def status(self) -> str:
        if self.terms is not None and self.terms.ended_on is not None:
            return EnrollmentStatus.ENDED
        if self.sessions:
            return EnrollmentStatus.SCHEDULED
        if self.refusal is not None:
            return EnrollmentStatus.SCHEDULE_REFUSED
        return EnrollmentStatus.AWAITING_SCHEDULE

    def local_day(self, session: ScheduledSession) -> date:
        """The session's date in the site's time zone."""
        return local_date(session.starts_at, self.known_terms.time_zone)

    def schedule_sessions(self) -> list[ScheduledSession]:
        return sorted(self.sessions.values(), key=lambda s: (s.starts_at, s.session_id))

    # Terms --------------------------------------------------------------------------------

    def open(self, terms: EnrollmentTerms) -> bool:
        """Keep the admission's terms; False when they are kept already (a redelivered
        admission changes nothing)."""
        if self.terms is not None:
            return False
        self.record(opened(terms))
        return True

    def end(self, ended_on: date, reason: str) -> None:
        """The program ends on ``ended_on``; the first end is the one that counts."""
        if self.known_terms.ended_on is None:
            self.record(EnrollmentEnded(site_id=self.known_terms.site_id, patient_id=self.id,
                                        ended_on=ended_on, reason=reason))

    def transfer(self, site_id: str, now: datetime) -> list[str]:
        """The patient's care moved to another site: the old site's sessions still ahead
        are cancelled (the patient will not come), and what is recorded next is the new
        site's. Returns the group sessions where the patient gave up a place."""
        old_site = self.known_terms.site_id
        if old_site == site_id:
            return []
        ahead = [s.session_id for s in self.schedule_sessions()
                 if s.pending and s.site_id == old_site and s.starts_at > now]
        freed = self._cancel(ahead, "PatientTransferred")
        self.record(EnrollmentTransferred(site_id=site_id, patient_id=self.id,
                                          from_site_id=old_site))
        return freed

    # Scheduling ---------------------------------------------------------------------------

    def change_days(self, days_per_week: int, week: WeeklyHours, clinician_id: str,
                    reason: str, now: datetime) -> list[str]:
        """A clinician makes the schedule again with ``days_per_week``: refused (naming the
        field, with the hours it reaches) unless ``week``, the week those days make, is one
        of its level. Future group sessions on days no longer chosen are cancelled;
        returns the group sessions where the patient gave up a place (for the waitlist).
        The command then schedules what is missing, as for a patient waiting for groups."""
        terms = self.known_terms
        if terms.ended_on is not None:
            raise SessionsRuleBroken("the program has ended")
        if not week.within:
            raise ScheduleOutsideHours("days_per_week", week)
        self.record(EnrollmentDaysChanged(
            site_id=terms.site_id, patient_id=self.id, days_per_week=days_per_week,
            clinician_id=clinician_id, reason=reason))
        kept = set(week.group_ids)
        dropped = [s.session_id for s in self.schedule_sessions()
                   if s.kind is SessionKind.GROUP and s.pending and s.starts_at > now
                   and s.group_id not in kept]
        return self._cancel(dropped, "Rescheduled")

    def may_schedule(self, week: WeeklyHours) -> bool:
        """Whether the week the program's groups make on the patient's days is one of its
        level (an IOP: 9 hours at least, under 20). When it is not, nothing is scheduled
        and ScheduleRefused says so, once for each number of hours it reaches, so the
        clinicians see it rather than a silently empty schedule."""
        if week.within:
            return True
        if self.refusal is None or self.refusal.planned_weekly_hours != week.hours:
            terms = self.known_terms
            self.record(ScheduleRefused(
                site_id=terms.site_id, patient_id=self.id, program_id=terms.program_id,
                level=week.level, days_per_week=terms.days_per_week,
                planned_weekly_hours=week.hours, minimum_hours=week.minimum,
                below_hours=week.below))
        return False

    def schedule(self, occurrences: Sequence[Occurrence], occupancy: Mapping[str, int]) -> None:
        """Schedule the admission's sessions, once; a full group occurrence waitlists.

        ``occupancy`` is how many patients already hold a place at each group session.
        """
        if self.sessions:
            return  # already scheduled: a redelivered admission changes nothing
        self._schedule(occurrences, occupancy)

    def missing_occurrences(self, groups: Sequence[Group], today: date) -> list[Occurrence]:
        """What completes a schedule short of its days a week, from ``today`` (the site's
        local date) or the start, whichever is later, to the planned end.

        Weekdays the patient already has a group on (held or waitlisted) are kept; the
        missing ones are chosen as at admission (earliest weekday, then earliest start,
        then group id), leaving out modalities a plan revision dropped. Weekly individual
        counseling follows the first program day's group, as at admission, unless the
        patient has had individual sessions before. An enrollment still awaiting its
        schedule thus gets exactly what an admission on ``today`` would have given it.
        """
        terms = self.known_terms
        first = max(terms.starts_on, today)
        if terms.ended_on is not None or first >= terms.ends_on:
            return []
        held = [s for s in self.sessions.values() if s.kind is SessionKind.GROUP
                and not s.cancelled and local_date(s.starts_at, terms.time_zone) >= first]
        held_weekdays = {local_date(s.starts_at, terms.time_zone).weekday() for s in held}
        dropped = self._dropped_modalities()
        candidates = [g for g in groups
                      if g.weekday not in held_weekdays and g.modality not in dropped]
        chosen = choose_groups(candidates, terms.days_per_week - len(held_weekdays))
        if not chosen:
            return []
        found = [o for g in chosen
                 for o in group_occurrences(g, first, terms.ends_on, terms.time_zone)]
        if not any(s.kind is SessionKind.INDIVIDUAL for s in self.sessions.values()):
            held_ids = {s.group_id for s in held}
            anchor = min([g for g in groups if g.group_id in held_ids] + list(chosen),
                         key=lambda g: g.order)
            found += individual_occurrences(self.id, anchor, terms.clinician_id, first,
                                            terms.ends_on, terms.time_zone)
        return sorted((o for o in found if self._free(o.session_id)),
                      key=lambda o: (o.starts_at, o.session_id))

    def _dropped_modalities(self) -> set[Modality]:
        """Modalities a plan revision cancelled and nothing scheduled since."""
        cancelled = {s.modality for s in self.sessions.values()
                     if s.cancel_reason == "PlanRevised"}
        return cancelled - {s.modality for s in self.sessions.values() if not s.cancelled}

    def schedule_missing(self, occurrences: Sequence[Occurrence],
                         occupancy: Mapping[str, int]) -> None:
        """Schedule ``missing_occurrences``; any the patient already has are skipped, so
        doing it twice schedules nothing twice."""
        if self.known_terms.ended_on is not None:
            return
        self._schedule([o for o in occurrences if self._free(o.session_id)], occupancy)

    def may_take_place(self, session_id: str) -> bool:
        """Whether a place freed up at that session is one the patient would take: still
        waitlisted there, the session not cancelled, the program not ended."""
        session = self.sessions.get(session_id)
        if session is None or not session.waitlisted or not session.pending:
            return False
        return self.known_terms.ended_on is None

    def take_places(self, session_ids: Sequence[str]) -> list[str]:
        """Places freed up at sessions the patient is waitlisted for: the patient takes
        them, in one ``SessionsScheduled`` (the same sessions again, not waitlisted).
        Returns those taken; the others had nothing to take (``may_take_place``)."""
        taken = [i for i in dict.fromkeys(session_ids) if self.may_take_place(i)]
        if taken:
            self.record(SessionsScheduled(
                site_id=self.known_terms.site_id, patient_id=self.id,
                sessions=[_scheduled(self.sessions[i], waitlisted=False) for i in taken]))
        return taken

    def _schedule(self, occurrences: Sequence[Occurrence], occupancy: Mapping[str, int]
                  ) -> None:
        """One SessionsScheduled for the lot; a full group occurrence waitlists."""
        if not occurrences:
            return
        self.record(SessionsScheduled(
            site_id=self.known_terms.site_id, patient_id=self.id, sessions=[
                catalog.ScheduledSession(
                    session_id=o.session_id, kind=o.kind, modality=o.modality,
                    group_id=o.group_id, starts_at=o.starts_at,
                    duration_minutes=o.duration_minutes, clinician_id=o.clinician_id,
                    waitlisted=o.capacity is not None
                    and occupancy.get(o.session_id, 0) >= o.capacity)
                for o in occurrences]))

    def additions_for(self, change: PlanChange, groups: Sequence[Group], now: datetime
                      ) -> list[Occurrence]:
        """The future sessions a revision's added modalities call for (none once ended)."""
        terms = self.known_terms
        if terms.ended_on is not None:
            return []
        upcoming = [s for s in self.sessions.values() if s.pending and s.starts_at > now]
        first = max(terms.starts_on, local_date(now, terms.time_zone))
        additions: list[Occurrence] = []
        for modality in sorted(change.added):
            if modality in HELD_BY_FAMILY or any(s.modality == modality for s in upcoming):
                continue
            if modality is Modality.INDIVIDUAL_COUNSELING:
                anchor = self._anchor_group(groups)
                found = [] if anchor is None else individual_occurrences(
                    self.id, anchor, terms.clinician_id, first, terms.ends_on, terms.time_zone)
            else:
                group = self._group_for(modality, groups, upcoming)
                found = [] if group is None else group_occurrences(
                    group, first, terms.ends_on, terms.time_zone)
            additions += [o for o in found if o.starts_at > now and self._free(o.session_id)]
        return additions

    def _free(self, session_id: str) -> bool:
        held = self.sessions.get(session_id)
        return held is None or held.cancelled

    def _anchor_group(self, groups: Sequence[Group]) -> Group | None:
        mine = {s.group_id for s in self.sessions.values() if s.group_id and s.counts}
        return next((g for g in sorted(groups, key=lambda g: g.order) if g.group_id in mine),
                    next(iter(choose_groups(groups, 1)), None))

    def _group_for(self, modality: Modality, groups: Sequence[Group],
                   upcoming: Sequence[ScheduledSession]) -> Group | None:
        """A group of that modality, on a weekday the patient is free if there is one."""
        zone = self.known_terms.time_zone
        busy = {s.starts_at.astimezone(ZoneInfo(zone)).weekday() for s in upcoming
                if s.kind is SessionKind.GROUP}
        matching = sorted((g for g in groups if g.modality == modality),
                          key=lambda g: (g.weekday in busy, g.order))
        return matching[0] if matching else None

    def adjust_to_plan(self, change: PlanChange, additions: Sequence[Occurrence],
                       occupancy: Mapping[str, int], now: datetime) -> list[str]:
        """Cancel future sessions of dropped modalities; schedule the added ones.

        Returns the group sessions where the patient gave up a place (for the waitlist).
        """
        if self.known_terms.ended_on is not None:
            return []
        dropped = [s.session_id for s in self.schedule_sessions()
                   if s.pending and s.starts_at > now and s.modality in change.dropped]
        freed = self._cancel(dropped, "PlanRevised")
        self._schedule(additions, occupancy)
        return freed

    def cancel_after(self, effective_on: date, reason: str) -> list[str]:
        """The program ends: cancel every session still ahead after ``effective_on``.

        Returns the group sessions where the patient gave up a place (for the waitlist).
        """
        terms = self.known_terms
        remaining = [s.session_id for s in self.schedule_sessions()
                     if s.pending and local_date(s.starts_at, terms.time_zone) > effective_on]
        return self._cancel(remaining, reason)

    def _cancel(self, session_ids: list[str], reason: str) -> list[str]:
        if not session_ids:
            return []
        freed = [i for i in session_ids if self.sessions[i].kind is SessionKind.GROUP
                 and not self.sessions[i].waitlisted]
        self.record(SessionsCancelled(site_id=self.known_terms.site_id, patient_id=self.id,
                                      session_ids=session_ids, reason=reason))
        return freed

    # Attendance ---------------------------------------------------------------------------

    def record_attendance(self, session_id: str, status: AttendanceStatus, late_minutes: int,
                          policy: AttendancePolicy) -> bool:
        """Record attendance; False when this very record was already made (idempotent)."""
        terms = self.known_terms
        session = self.sessions.get(session_id)
        if session is None:
            raise UnknownSession(session_id)
        status = AttendanceStatus(status)
        if status is AttendanceStatus.LATE and late_minutes < 1:
            raise InvalidAttendance("minutes_late", "a late arrival is at least 1 minute late")
        rule = SessionAttendance(session_id, session.starts_at, session.duration_minutes,
                                 status, late_minutes)
        attendance = Attendance(status, late_minutes, rule.credited_minutes)
        if session.attendance is not None:
            if session.attendance == attendance:
                return False
            raise SessionsRuleBroken(
                f"attendance at session {session_id} is already recorded as "
                f"{session.attendance.status.value}")
        if session.cancelled:
            raise SessionsRuleBroken(f"session {session_id} was cancelled")
        if session.waitlisted:
            raise SessionsRuleBroken(f"the patient is on the waitlist for session {session_id}")
        day = local_date(session.starts_at, terms.time_zone)
        if status in (AttendanceStatus.ATTENDED, AttendanceStatus.LATE):
            self.record(SessionAttended(
                site_id=terms.site_id, patient_id=self.id, session_id=session_id,
                late_minutes=late_minutes, credited_minutes=attendance.credited_minutes,
                attended_on=day))
        else:
            self.record(SessionMissed(
                site_id=terms.site_id, patient_id=self.id, session_id=session_id,
                excused=status is AttendanceStatus.EXCUSED, missed_on=day))
        self._raise_outreach(policy)
        self._flag_weeks(policy)
        return True

    def _recorded(self, zone: str = "UTC") -> list[SessionAttendance]:
        """Attendance as the rules see it, with start times in ``zone``."""
        tz = ZoneInfo(zone)
        return [
            SessionAttendance(s.session_id, s.starts_at.astimezone(tz), s.duration_minutes,
                              s.attendance.status, s.attendance.late_minutes)
            for s in self.sessions.values() if s.attendance is not None
        ]

    def _raise_outreach(self, policy: AttendancePolicy) -> None:
        streak = absence_streak(self._recorded(), policy)
        if streak.outreach_due and streak.session_ids[0] not in self.flags.outreach_streaks:
            self.record(OutreachNeeded(
                site_id=self.known_terms.site_id, patient_id=self.id,
                consecutive_absences=streak.count, last_missed_session_id=streak.session_ids[-1],
            ))

    def absence_streak(self) -> int:
        return absence_streak(self._recorded()).count

    def weeks(self, policy: AttendancePolicy, today: date | None = None) -> list[WeekSummary]:
        """Every program week: hours credited, and whether it finished under the minimum.

        A week is finished when every session the patient was expected at in it is
        recorded, when attendance in a later week is (the patient moved on), or when its
        last day is before ``today`` (site-local): unrecorded sessions credit nothing.
        """
        terms = self.known_terms
        recorded = self._recorded(terms.time_zone)
        expected = [s for s in self.sessions.values() if s.counts]
        week = {s.session_id: terms.week_of(local_date(s.starts_at, terms.time_zone))
                for s in expected}
        latest_recorded = max((week[s.session_id] for s in expected if s.attendance), default=-1)
        summaries = []
        for number in range(terms.planned_weeks):
            start = terms.starts_on + timedelta(weeks=number)
            hours = week_hours(start, recorded, policy)
            in_week = [s for s in expected if week[s.session_id] == number]
            over = today is not None and start + timedelta(weeks=1) <= today
            finished = bool(in_week) and (
                all(s.attendance for s in in_week) or latest_recorded > number or over)
            summaries.append(WeekSummary(
                number=number + 1, week_start=start, minutes=hours.minutes,
                below_minimum=finished and hours.below_minimum, finished=finished,
                flagged=start in self.flags.weeks_below_minimum,
            ))
        return summaries

    def close_past_weeks(self, now: datetime, policy: AttendancePolicy) -> None:
        """Flag the weeks that are over under the minimum, recorded in full or not: a
        patient who stopped coming, unrecorded, is the case the flag exists for."""
        self._flag_weeks(policy, local_date(now, self.known_terms.time_zone))

    def _flag_weeks(self, policy: AttendancePolicy, today: date | None = None) -> None:
        for week in self.weeks(policy, today):
            if week.below_minimum and not week.flagged:
                self.record(AttendanceBelowMinimum(
                    site_id=self.known_terms.site_id, patient_id=self.id,
                    week_starting=week.week_start, hours=week.hours,
                    minimum_hours=policy.min_weekly_hours,
                ))

    # Outcome measures ---------------------------------------------------------------------

    def measure_phq9(self, measure_id: str, items: Sequence[int], measured_on: date
                     ) -> list[RiskSignal]:
        """Record a PHQ-9 and the risk signals it raises; returns those signals. Item 9
        above 0 makes a C-SSRS due that day (CssrsDue), unless one is measured already."""
        terms = self.known_terms
        phq9 = Phq9(tuple(items))
        week = program_week(terms.starts_on, measured_on)
        earlier = sorted((m for m in self.measures if m.instrument is Instrument.PHQ9
                          and m.measured_on <= measured_on), key=lambda m: m.measured_on)
        signals = risk_signals(phq9, terms.baseline_phq9, earlier)
        self._measured(OutcomeMeasured(
            site_id=terms.site_id, patient_id=self.id, measure_id=measure_id,
            instrument=Instrument.PHQ9, total=phq9.total, item9=phq9.item9,
            measured_on=measured_on, program_week=week,
        ), signals)
        if (phq9.item9 > 0 and not self._cssrs_on_or_after(measured_on)
                and all(due.due_on != measured_on for due in self.cssrs_due)):
            self.record(CssrsDue(site_id=terms.site_id, patient_id=self.id,
                                 due_on=measured_on, phq9_measure_id=measure_id))
        return signals

    def measure_gad7(self, measure_id: str, items: Sequence[int], measured_on: date) -> None:
        """Record a GAD-7 (anxiety): it raises no risk signal."""
        gad7 = Gad7(tuple(items))
        self._measured(self._outcome(measure_id, Instrument.GAD7, gad7.total, measured_on), [])

    def measure_cssrs(self, measure_id: str, answers: Mapping[str, bool], measured_on: date
                      ) -> list[RiskSignal]:
        """Record a C-SSRS "since last visit": moderate or high raise the same risk signals
        as at intake; it does whatever C-SSRS was due on or before that day."""
        cssrs = CssrsSinceLastVisit(dict(answers))
        outcome = self._outcome(measure_id, Instrument.CSSRS, cssrs.yes_answers, measured_on)
        self._measured(outcome.model_copy(update={"risk_level": cssrs.risk_level}),
                       cssrs.risk_signals)
        return cssrs.risk_signals

    def open_cssrs_tasks(self) -> list[CssrsDue]:
        """The C-SSRS screens due and not done yet (none measured on or after the day)."""
        return [due for due in self.cssrs_due if not self._cssrs_on_or_after(due.due_on)]

    def _cssrs_on_or_after(self, day: date) -> bool:
        return any(m.instrument is Instrument.CSSRS and m.measured_on >= day
                   for m in self.measures)

    def _outcome(self, measure_id: str, instrument: Instrument, total: int, measured_on: date
                 ) -> OutcomeMeasured:
        terms = self.known_terms
        return OutcomeMeasured(
            site_id=terms.site_id, patient_id=self.id, measure_id=measure_id,
            instrument=instrument, total=total, measured_on=measured_on,
            program_week=program_week(terms.starts_on, measured_on))

    def _measured(self, outcome: OutcomeMeasured, signals: Sequence[RiskSignal]) -> None:
        terms = self.known_terms
        self.record(outcome)
        for signal in signals:
            self.record(RiskSignalRaised(
                site_id=terms.site_id, patient_id=self.id, signal=signal,
                observed_on=outcome.measured_on, clinician_id=terms.clinician_id,
            ))

    # State --------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case EnrollmentOpened():
                self.terms = terms_opened(event)
            case EnrollmentEnded():
                self.terms = replace(self.known_terms, ended_on=event.ended_on)
                self.end_reason = event.reason
            case EnrollmentTransferred():
                self.terms = replace(self.known_terms, site_id=event.site_id)
            case EnrollmentDaysChanged():
                self.terms = replace(self.known_terms, days_per_week=event.days_per_week)
            case ScheduleRefused():
                self.refusal = event
            case SessionScheduled() | SessionsScheduled():
                self.refusal = None
                for part in schedule_of(event).sessions:
                    self.sessions[part.session_id] = ScheduledSession(
                        session_id=part.session_id, kind=part.kind, modality=part.modality,
                        group_id=part.group_id, starts_at=part.starts_at.astimezone(UTC),
                        duration_minutes=part.duration_minutes,
                        clinician_id=part.clinician_id, waitlisted=part.waitlisted,
                        site_id=event.site_id)
            case SessionsCancelled():
                for session_id in event.session_ids:
                    self.sessions[session_id].cancelled = True
                    self.sessions[session_id].cancel_reason = event.reason
            case SessionAttended():
                status = AttendanceStatus.LATE if event.late_minutes else AttendanceStatus.ATTENDED
                self.sessions[event.session_id].attendance = Attendance(
                    status, event.late_minutes, event.credited_minutes)
            case SessionMissed():
                status = AttendanceStatus.EXCUSED if event.excused else AttendanceStatus.ABSENT
                self.sessions[event.session_id].attendance = Attendance(status)
            case OutreachNeeded():
                streak = absence_streak(self._recorded())
                self.flags.outreach_streaks.add(streak.session_ids[0])
                self.flags.outreach.append(event)
            case AttendanceBelowMinimum():
                self.flags.weeks_below_minimum[event.week_starting] = event
            case OutcomeMeasured():
                self.measures.append(Measure(
                    measure_id=event.measure_id, instrument=event.instrument,
                    total=event.total, item9=event.item9, measured_on=event.measured_on,
                    program_week=event.program_week, risk_level=event.risk_level,
                ))
            case CssrsDue():
                self.cssrs_due.append(event)
            case RiskSignalRaised():
                self.flags.risk_signals.append(event)
                if self.measures:  # recorded right after the measure that raised it
                    self.measure_signals.setdefault(self.measures[-1].measure_id, []).append(
                        event.signal)

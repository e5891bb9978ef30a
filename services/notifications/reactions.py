"""What others' events call for: messages, queued through the command handlers.

Reactions run after the projectors, in the same transaction; a rebuild never
runs them (what they recorded is in the event store already), so a rebuild
sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from iopnet.catalog import (
    AdmissionDeclined,
    AttendanceBelowMinimum,
    CssrsDue,
    Discharged,
    DomainEvent,
    ExitSummarized,
    OutreachNeeded,
    PatientAdmitted,
    PatientCertified,
    PatientEvent,
    PatientTransferred,
    ProgressJudged,
    RiskSignalRaised,
    ScheduleRefused,
    SessionsCancelled,
    SessionScheduled,
    SessionsScheduled,
    SteppedDown,
    SteppedUp,
    schedule_of,
)
from iopnet.consumer import Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.eventstore import Cause
from iopnet.unit_of_work import UnitOfWork
from services.notifications import commands, domain
from services.notifications.domain import MessageDraft, Occasion, UrgentCause
from services.notifications.settings import current

E = TypeVar("E", bound=PatientEvent)


def occasion_of(envelope: EventEnvelope) -> Occasion:
    return Occasion(envelope.id, envelope.type, envelope.correlationid, envelope.time)


def batch_of(envelope: EventEnvelope) -> Occasion:
    """Events recorded for one cause (e.g. one enrollment's sessions) make one batch."""
    return Occasion(f"batch:{envelope.correlationid}", envelope.type, envelope.correlationid,
                    envelope.time)


def _uow(conn: Connection, envelope: EventEnvelope) -> UnitOfWork:
    return commands.unit_of_work(conn, Cause.following(envelope))


def queueing(kind: type[E], drafts_for: Callable[[E, Occasion], list[MessageDraft]]
             ) -> Projector:
    """A reaction that queues the messages a pure rule drafts for an event of ``kind``."""

    async def queue(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
        assert isinstance(event, kind)
        await commands.queue_messages(_uow(conn, envelope),
                                      drafts_for(event, occasion_of(envelope)))

    return queue


def _coalescing() -> commands.Coalescing:
    settings = current()
    return commands.Coalescing(window=timedelta(seconds=settings.urgent_alert_coalesce_seconds),
                               gather=timedelta(seconds=settings.urgent_alert_gather_seconds))


def alerting(kind: type[E], cause_of: Callable[[E, Occasion], UrgentCause | None]
             ) -> Projector:
    """A reaction that places the urgent cause a pure rule finds in the event, if any."""

    async def alert(conn: Connection, event: DomainEvent, envelope: EventEnvelope) -> None:
        assert isinstance(event, kind)
        occasion = occasion_of(envelope)
        await commands.raise_urgent_alert(_uow(conn, envelope), event.patient_id,
                                          event.site_id, cause_of(event, occasion), occasion,
                                          _coalescing())

    return alert


async def on_stepped_up(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                        ) -> None:
    assert isinstance(event, SteppedUp)
    occasion, uow = occasion_of(envelope), _uow(conn, envelope)
    await commands.raise_urgent_alert(uow, event.patient_id, event.site_id,
                                      domain.stepped_up_alert(event, occasion), occasion,
                                      _coalescing())
    await commands.queue_messages(uow, domain.step_up_notice(event, occasion))
    await commands.cancel_recertification_reminders(uow, event.patient_id)  # IOP ended


async def remind_of_sessions(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    """A whole schedule's reminders in one unit of work (an older producer's
    SessionScheduled is a schedule of one)."""
    assert isinstance(event, SessionScheduled | SessionsScheduled)
    settings = current()
    await commands.remind_of_sessions(
        _uow(conn, envelope), schedule_of(event), occasion_of(envelope), batch_of(envelope),
        lead=timedelta(hours=settings.reminder_lead_hours),
        settle=timedelta(seconds=settings.schedule_batch_settle_seconds))


async def on_sessions_cancelled(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                                ) -> None:
    assert isinstance(event, SessionsCancelled)
    await commands.cancel_session_messages(_uow(conn, envelope), event.patient_id,
                                           event.session_ids)


async def on_progress_judged(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    """Plans judged a PHQ-9 measured in the program: its trend is what family may hear."""
    assert isinstance(event, ProgressJudged)
    await commands.update_family_on_progress(_uow(conn, envelope), event,
                                             occasion_of(envelope))


async def on_stepped_down(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                          ) -> None:
    assert isinstance(event, SteppedDown)
    occasion, uow = occasion_of(envelope), _uow(conn, envelope)
    await commands.queue_messages(uow, domain.aftercare_summary(event, occasion))
    await commands.update_family_on_progress(uow, event, occasion)
    await commands.cancel_recertification_reminders(uow, event.patient_id)


async def on_discharged(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                        ) -> None:
    assert isinstance(event, Discharged)
    uow = _uow(conn, envelope)
    await commands.queue_messages(uow, domain.discharge_notice(event, occasion_of(envelope)))
    await commands.cancel_recertification_reminders(uow, event.patient_id)


async def on_patient_certified(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                               ) -> None:
    assert isinstance(event, PatientCertified)
    await commands.remind_of_recertification(_uow(conn, envelope), event,
                                             occasion_of(envelope))


async def on_patient_transferred(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                                 ) -> None:
    assert isinstance(event, PatientTransferred)
    await commands.cancel_at_old_sites(_uow(conn, envelope), event.patient_id, event.site_id)


REACTIONS: dict[type[DomainEvent], Projector] = {
    PatientAdmitted: queueing(PatientAdmitted, domain.welcome),
    AdmissionDeclined: alerting(AdmissionDeclined, domain.declined_alert),
    RiskSignalRaised: alerting(RiskSignalRaised, domain.risk_alert),
    PatientTransferred: on_patient_transferred,
    SessionScheduled: remind_of_sessions,
    SessionsScheduled: remind_of_sessions,
    SessionsCancelled: on_sessions_cancelled,
    OutreachNeeded: queueing(OutreachNeeded, domain.outreach),
    AttendanceBelowMinimum: queueing(AttendanceBelowMinimum, domain.attendance_review),
    ProgressJudged: on_progress_judged,
    SteppedDown: on_stepped_down,
    SteppedUp: on_stepped_up,
    Discharged: on_discharged,
    PatientCertified: on_patient_certified,
    ExitSummarized: alerting(ExitSummarized, domain.left_against_advice_alert),
    ScheduleRefused: queueing(ScheduleRefused, domain.schedule_refused_notice),
    CssrsDue: queueing(CssrsDue, domain.cssrs_due_notice),
}

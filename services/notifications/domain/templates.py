"""Email templates per site and kind: ``string.Template`` text with ${placeholders}.

Placeholders are codes and dates only. Names are not known to notifications,
so a patient is "Dear patient" and a clinician alert names the patient by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from string import Template as StringTemplate
from typing import Any
from zoneinfo import ZoneInfo

from services.notifications.domain.messages import Facts, MessageKind


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


_COMMON = frozenset({"site_name", "patient_id"})

#: The placeholders each kind's template may use.
PLACEHOLDERS: dict[MessageKind, frozenset[str]] = {
    MessageKind.WELCOME: _COMMON | {"program_id", "start_date", "days_per_week",
                                    "planned_weeks"},
    MessageKind.SESSION_REMINDER: _COMMON | {"session_date", "session_time",
                                             "duration_minutes", "session_kind", "modality"},
    MessageKind.OUTREACH: _COMMON | {"consecutive_absences"},
    MessageKind.CLINICIAN_OUTREACH: _COMMON | {"consecutive_absences",
                                               "last_missed_session_id"},
    MessageKind.ATTENDANCE_REVIEW: _COMMON | {"week_starting", "hours", "minimum_hours"},
    MessageKind.URGENT_ALERT: _COMMON | {"alert_reason", "observed_on", "recommended_level",
                                         "reason_codes", "clinician_id", "to_level",
                                         "effective_on", "alert_heading", "alert_reasons",
                                         "causes", "alert_id"},
    MessageKind.FAMILY_SCHEDULE_UPDATE: _COMMON | {"upcoming_sessions", "next_session_date",
                                                   "next_session_time"},
    MessageKind.FAMILY_PROGRESS_UPDATE: _COMMON | {"progress", "program_week", "to_level"},
    MessageKind.AFTERCARE_SUMMARY: _COMMON | {"to_level", "effective_on", "aftercare",
                                              "follow_up_within_days"},
    MessageKind.STEP_UP_NOTICE: _COMMON | {"to_level", "effective_on"},
    MessageKind.DISCHARGE_NOTICE: _COMMON | {"outcome", "effective_on"},
    MessageKind.ALERT_ESCALATION: _COMMON | {"alert_id", "alert_reasons", "raised_at",
                                             "escalated_at"},
    MessageKind.SCHEDULE_REFUSED: _COMMON | {"program_id", "level", "days_per_week",
                                             "planned_weekly_hours", "minimum_hours",
                                             "below_hours"},
    MessageKind.CSSRS_DUE: _COMMON | {"due_on", "phq9_measure_id"},
    MessageKind.RECERTIFICATION_DUE: _COMMON | {"certification_id", "certified_by",
                                                "certified_on", "recertify_by"},
    MessageKind.RECERTIFICATION_OVERDUE: _COMMON | {"certification_id", "certified_by",
                                                    "certified_on", "recertify_by"},
}

DEFAULT_TEMPLATES: dict[MessageKind, Template] = {
    MessageKind.WELCOME: Template(
        "Welcome to ${site_name}",
        "Dear patient,\n\nWelcome to the intensive outpatient program at ${site_name}. "
        "Your program starts on ${start_date}: ${days_per_week} days a week for "
        "${planned_weeks} weeks. Your session times will follow.\n"),
    MessageKind.SESSION_REMINDER: Template(
        "Reminder: your session on ${session_date}",
        "Dear patient,\n\nA reminder of your ${session_kind} session at ${site_name} on "
        "${session_date} at ${session_time} (${duration_minutes} minutes).\n"),
    MessageKind.OUTREACH: Template(
        "We missed you at ${site_name}",
        "Dear patient,\n\nWe missed you at your last ${consecutive_absences} sessions. "
        "Your care team would like to hear from you; please call or reply to arrange "
        "your next visit.\n"),
    MessageKind.CLINICIAN_OUTREACH: Template(
        "Outreach needed: patient ${patient_id}",
        "Patient ${patient_id} has missed ${consecutive_absences} sessions in a row "
        "(last: ${last_missed_session_id}). Please reach out.\n"),
    MessageKind.ATTENDANCE_REVIEW: Template(
        "Attendance review: patient ${patient_id}",
        "Patient ${patient_id}: the week starting ${week_starting} had ${hours} hours of "
        "attendance against the program minimum of ${minimum_hours}. The case is flagged "
        "for review.\n"),
    MessageKind.URGENT_ALERT: Template(
        "URGENT: ${alert_heading} for patient ${patient_id} (alert ${alert_id})",
        "Patient ${patient_id} needs a clinician's review today.\n"
        "${causes}\n"),
    MessageKind.FAMILY_SCHEDULE_UPDATE: Template(
        "Schedule update from ${site_name}",
        "Dear support person,\n\nThe program schedule of the person you support at "
        "${site_name} has been updated: ${upcoming_sessions} upcoming sessions, the next on "
        "${next_session_date} at ${next_session_time}.\n"),
    MessageKind.FAMILY_PROGRESS_UPDATE: Template(
        "Progress update from ${site_name}",
        "Dear support person,\n\nA progress update on the person you support at "
        "${site_name}: ${progress}.\n"),
    MessageKind.AFTERCARE_SUMMARY: Template(
        "Your aftercare plan from ${site_name}",
        "Dear patient,\n\nYou have completed the intensive phase of your program. From "
        "${effective_on} your care continues at the ${to_level} level, with a follow-up "
        "within ${follow_up_within_days} days.\nYour aftercare plan: ${aftercare}.\n"),
    MessageKind.STEP_UP_NOTICE: Template(
        "Your care at ${site_name} continues",
        "Dear patient,\n\nYour care team has arranged more support for you: from "
        "${effective_on} your care continues at the ${to_level} level. Your care team will "
        "contact you about the next steps.\n"),
    MessageKind.DISCHARGE_NOTICE: Template(
        "You have completed your program at ${site_name}",
        "Dear patient,\n\nCongratulations: you completed your program at ${site_name} on "
        "${effective_on}. Your care team remains there for you.\n"),
    MessageKind.ALERT_ESCALATION: Template(
        "ESCALATED: urgent alert ${alert_id} for patient ${patient_id} not acknowledged",
        "No clinician at ${site_name} has acknowledged the urgent alert about patient "
        "${patient_id} raised at ${raised_at} (${alert_reasons}). Please make sure a "
        "clinician reviews the patient now, then acknowledge alert ${alert_id}.\n"),
    MessageKind.SCHEDULE_REFUSED: Template(
        "Schedule refused: patient ${patient_id}",
        "Nothing was scheduled for patient ${patient_id}: the groups of program "
        "${program_id} on ${days_per_week} days a week come to ${planned_weekly_hours} hours, "
        "and ${level} needs at least ${minimum_hours} hours a week. Please choose more days "
        "or other groups.\n"),
    MessageKind.CSSRS_DUE: Template(
        "C-SSRS due on ${due_on}: patient ${patient_id}",
        "Patient ${patient_id} answered PHQ-9 item 9 above 0 (measure ${phq9_measure_id}). "
        "A C-SSRS screen is due on ${due_on}.\n"),
    MessageKind.RECERTIFICATION_DUE: Template(
        "Recertification due by ${recertify_by}: patient ${patient_id}",
        "The physician's certification that patient ${patient_id} needs intensive outpatient "
        "services (${certified_by}, ${certified_on}) must be renewed by ${recertify_by}: "
        "Medicare requires a recertification at least every other month.\n"),
    MessageKind.RECERTIFICATION_OVERDUE: Template(
        "Recertification overdue: patient ${patient_id}",
        "The physician's certification that patient ${patient_id} needs intensive outpatient "
        "services (${certified_by}, ${certified_on}) was due for renewal by ${recertify_by}, "
        "and no recertification has been recorded.\n"),
}

EMAIL_KINDS = frozenset(DEFAULT_TEMPLATES)


def template_problems(kind: MessageKind, template: Template) -> dict[str, str]:
    """What is wrong with a site's template, by field: bad syntax or unknown placeholders."""
    problems = {}
    for field_name, text in (("subject", template.subject), ("body", template.body)):
        parsed = StringTemplate(text)
        if not parsed.is_valid():
            problems[field_name] = "invalid placeholder syntax; use ${name} and $$ for $"
            continue
        unknown = set(parsed.get_identifiers()) - PLACEHOLDERS[kind]
        if unknown:
            problems[field_name] = (f"unknown placeholders {sorted(unknown)}; allowed: "
                                    f"{sorted(PLACEHOLDERS[kind])}")
    return problems


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def render_context(kind: MessageKind, facts: Facts, *, patient_id: str, site_name: str,
                   zone: str, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Every placeholder of the kind, filled from the message's facts (missing → empty)."""
    values: dict[str, Any] = {"patient_id": patient_id, "site_name": site_name,
                              **facts, **(extra or {})}
    if "starts_at" in facts:
        local = datetime.fromisoformat(str(facts["starts_at"])).astimezone(ZoneInfo(zone))
        values |= {"session_date": local.date().isoformat(),
                   "session_time": local.strftime("%H:%M")}
    if kind is MessageKind.URGENT_ALERT:
        values |= _urgent_context(facts)
    for code in ("progress", "to_level", "alert_reason", "recommended_level", "aftercare", "level",
                 "session_kind", "modality", "reason_codes", "alert_reasons", "outcome"):
        if code in values:
            values[code] = _words(values[code])
    return {name: _text(values.get(name, "")) for name in PLACEHOLDERS[kind]}


def _urgent_context(facts: Facts) -> dict[str, str]:
    """An alert's heading, and one line per cause it answers (codes read as words)."""
    follow_up = bool(facts.get("follow_up"))
    causes = facts.get("causes") or [facts]
    lines = [f"- {_cause_line(cause)}" for cause in causes]
    if follow_up:
        lines.insert(0, "Additional risk signals since the last alert:")
    return {"alert_heading": "additional risk signals" if follow_up else "same-day review",
            "causes": "\n".join(lines)}


def _cause_line(cause: Mapping[str, Any]) -> str:
    reason = _words(cause.get("alert_reason", ""))
    codes = _text(_words(cause.get("reason_codes", [])))
    because = f" ({codes})" if codes else ""
    if cause.get("to_level"):
        return (f"{reason} to {_words(cause['to_level'])} from {cause.get('effective_on', '')}"
                f"{because}")
    if cause.get("recommended_level"):
        return f"{reason}: {_words(cause['recommended_level'])} recommended{because}"
    return f"{reason} (observed {cause.get('observed_on', '')})"


def _words(value: Any) -> Any:
    """Codes read as words in an email: much_improved → much improved."""
    if isinstance(value, list | tuple):
        return [_words(v) for v in value]
    return str(value).replace("_", " ")


def render(template: Template, context: Mapping[str, str]) -> RenderedEmail:
    return RenderedEmail(StringTemplate(template.subject).safe_substitute(context),
                         StringTemplate(template.body).safe_substitute(context))


def schedule_outline(starts: list[datetime], zone: str, now: datetime) -> dict[str, str]:
    """The schedule as a family update tells it: how many sessions are ahead, the next one."""
    ahead = sorted(s for s in starts if s > now)
    if not ahead:
        return {"upcoming_sessions": "0", "next_session_date": "", "next_session_time": ""}
    first = ahead[0].astimezone(ZoneInfo(zone))
    return {"upcoming_sessions": str(len(ahead)), "next_session_date": first.date().isoformat(),
            "next_session_time": first.strftime("%H:%M")}

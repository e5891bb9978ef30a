"""The sessions domain, pure: programs and groups, enrollments, attendance, outcome measures."""

from services.sessions.domain.attendance import (
    AttendancePolicy,
    AttendanceStatus,
    InvalidAttendance,
)
from services.sessions.domain.enrollment import (
    Enrollment,
    EnrollmentStatus,
    EnrollmentTerms,
    SessionsRuleBroken,
    UnknownSession,
    terms_of,
)
from services.sessions.domain.events import (
    EnrollmentDaysChanged,
    EnrollmentEnded,
    EnrollmentOpened,
    EnrollmentTransferred,
    GroupAdded,
    ProgramDefined,
)
from services.sessions.domain.outcomes import InvalidMeasure, phq9_band
from services.sessions.domain.plan import PlanChange, plan_change, weekly_sessions
from services.sessions.domain.program import IdTaken, Program
from services.sessions.domain.schedule import (
    DEFAULT_GROUP_MINUTES,
    HELD_BY_FAMILY,
    Group,
    Occurrence,
    program_schedule,
)

__all__ = [
    "DEFAULT_GROUP_MINUTES",
    "HELD_BY_FAMILY",
    "AttendancePolicy",
    "AttendanceStatus",
    "Enrollment",
    "EnrollmentDaysChanged",
    "EnrollmentEnded",
    "EnrollmentOpened",
    "EnrollmentStatus",
    "EnrollmentTerms",
    "EnrollmentTransferred",
    "Group",
    "GroupAdded",
    "IdTaken",
    "InvalidAttendance",
    "InvalidMeasure",
    "Occurrence",
    "PlanChange",
    "Program",
    "ProgramDefined",
    "SessionsRuleBroken",
    "UnknownSession",
    "phq9_band",
    "plan_change",
    "program_schedule",
    "terms_of",
    "weekly_sessions",
]

"""The intake domain, pure: the patient's case, the instruments, the level-of-care rules."""

from services.intake.domain.case import (
    Admission,
    CaseStatus,
    IntakeRuleBroken,
    PatientCase,
    Referral,
    stream_of,
)

__all__ = ["Admission", "CaseStatus", "IntakeRuleBroken", "PatientCase", "Referral", "stream_of"]

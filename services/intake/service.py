from pathlib import Path

from iopnet.service import ServiceSpec
from services.intake import api
from services.intake.settings import IntakeSettings

SPEC = ServiceSpec(
    name="intake",
    settings=IntakeSettings,
    routers=[api.router],
    migrations=Path(__file__).parent / "migrations",
    description="Referrals, assessments, level-of-care decisions and admissions.",
)

from pathlib import Path

from iopnet.service import ServiceSpec
from services.family import api
from services.family.projections import PROJECTION
from services.family.settings import FamilySettings

SPEC = ServiceSpec(
    name="family",
    settings=FamilySettings,
    routers=[api.router],
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    patient_tables=("family_circles",),
    description="Support persons, the patient's consent to share, family sessions.",
)

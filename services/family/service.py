from pathlib import Path

from iopnet.service import ServiceSpec
from services.family.api import routers
from services.family.consent_expiry import expire_consents
from services.family.consumed import PROJECTION
from services.family.projections import DERIVED_TABLES, PATIENT_TABLES, project_circle
from services.family.settings import FamilySettings
from services.family.upgrades import UPGRADES

SPEC = ServiceSpec(
    name="family",
    settings=FamilySettings,
    routers=routers,
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    patient_tables=PATIENT_TABLES,
    patient_site_table="family_circles",
    description="Support persons, the patient's consent to share, family sessions, and what "
    "each support person may see.",
    background=[expire_consents],
    upgrades=UPGRADES,
    derived_tables=DERIVED_TABLES,
    project_own=project_circle,
)

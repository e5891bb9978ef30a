from pathlib import Path

from iopnet.service import ServiceSpec
from services.notifications.api import routers
from services.notifications.consumed import PROJECTION
from services.notifications.delivery import deliver_due_messages
from services.notifications.escalation import escalate_alerts
from services.notifications.projections import project_recorded
from services.notifications.settings import NotificationsSettings
from services.notifications.store import DERIVED_TABLES, PATIENT_TABLES
from services.notifications.upgrades import UPGRADES

SPEC = ServiceSpec(
    name="notifications",
    settings=NotificationsSettings,
    routers=routers,
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    description="Messages to patients, families and clinicians, and their delivery by "
    "email and signed webhooks.",
    patient_tables=PATIENT_TABLES,
    patient_site_table="patients",
    background=[deliver_due_messages, escalate_alerts],
    upgrades=UPGRADES,
    derived_tables=DERIVED_TABLES,
    project_own=project_recorded,
)

from pathlib import Path

from iopnet.service import ServiceSpec
from services.notifications import api
from services.notifications.projections import PROJECTION
from services.notifications.settings import NotificationsSettings

SPEC = ServiceSpec(
    name="notifications",
    settings=NotificationsSettings,
    routers=[api.router],
    migrations=Path(__file__).parent / "migrations",
    projection=PROJECTION,
    description="Messages to patients, families and clinicians, and their delivery.",
)

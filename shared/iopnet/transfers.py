"""Where a patient's care is now: the site of the consuming service's own patient row.

An event carries the site its producer knew when it recorded it. After a transfer,
a producer that has not applied the transfer yet still records at the old site (a
risk signal measured in a session, say), and a consumer that took the event's site
would hide it from the new site and alert the old one. So a consumer takes the
site from its own patient row, which the transfer moved (``ServiceSpec``'s
``patient_site_table``); the event's own site counts only while it has no row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from iopnet.catalog import DomainEvent, PatientEvent, PatientTransferred
from iopnet.db import Connection

#: The site where the service keeps a patient now, or None for a patient it does not know.
SiteOf = Callable[[Connection, str], Awaitable[str | None]]


def site_in(table: str) -> SiteOf:
    """The patient's site as ``table`` (keyed by ``patient_id``) holds it."""
    query = f"SELECT site_id FROM {table} WHERE patient_id = $1"

    async def site_of(conn: Connection, patient_id: str) -> str | None:
        site: str | None = await conn.fetchval(query, patient_id)
        return site

    return site_of


async def localized(conn: Connection, event: DomainEvent, site_of: SiteOf | None
                    ) -> DomainEvent:
    """``event`` with the site where its patient's care is now (a transfer says it itself)."""
    if site_of is None or not isinstance(event, PatientEvent) or isinstance(
            event, PatientTransferred):
        return event
    site = await site_of(conn, event.patient_id)
    return event if site is None or site == event.site_id else event.model_copy(
        update={"site_id": site})

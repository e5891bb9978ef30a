"""Where a patient's care is now: the site of the consuming service's own patient row.

An event carries the site its producer knew when it recorded it. After a transfer,
a producer that has not applied the transfer yet still records at the old site (a
risk signal measured in a session, say), and a consumer that took the event's site
would hide it from the new site and alert the old one. So a consumer takes the
site from its own patient row, which the transfer moved (``ServiceSpec``'s
``patient_site_table``); the event's own site counts only while it has no row.
"""

from __future__ import annotations

from typing import Protocol

from iopnet.catalog import DomainEvent, PatientEvent, PatientTransferred
from iopnet.db import Connection


class SiteOf(Protocol):
    """The site where the service keeps a patient now, or None for a patient it does not
    know; ``for_transfer``: the row is the caller's alone until it commits."""

    async def __call__(self, conn: Connection, patient_id: str, *,
                       for_transfer: bool = False) -> str | None: ...


def site_in(table: str) -> SiteOf:
    """The patient's site as ``table`` (keyed by ``patient_id``) holds it.

    The row stays locked until the transaction ends: shared by the events that read it,
    exclusive for a transfer, which takes it before it moves anything. So the two take
    turns: an event read before the transfer wrote its rows at the old site before the
    transfer moves them, and one read after sees the new site (Postgres reads the row
    again once it waited). Without it, a row written at the old site while a transfer
    commits would stay there, hidden from the new site.
    """
    reading = f"SELECT site_id FROM {table} WHERE patient_id = $1 FOR SHARE"
    moving = f"SELECT site_id FROM {table} WHERE patient_id = $1 FOR NO KEY UPDATE"

    async def site_of(conn: Connection, patient_id: str, *,
                      for_transfer: bool = False) -> str | None:
        site: str | None = await conn.fetchval(moving if for_transfer else reading,
                                               patient_id)
        return site

    return site_of


async def localized(conn: Connection, event: DomainEvent, site_of: SiteOf | None
                    ) -> DomainEvent:
    """``event`` with the site where its patient's care is now (a transfer says it itself,
    and first takes the patient's row)."""
    if site_of is None or not isinstance(event, PatientEvent):
        return event
    if isinstance(event, PatientTransferred):
        await site_of(conn, event.patient_id, for_transfer=True)
        return event
    site = await site_of(conn, event.patient_id)
    return event if site is None or site == event.site_id else event.model_copy(
        update={"site_id": site})

"""Where a patient's care is now: the site of the consuming service's own patient row.

An event carries the site its producer knew when it recorded it. After a transfer,
a producer that has not applied the transfer yet still records at the old site (a
risk signal measured in a session, say), and a consumer that took the event's site
would hide it from the new site and alert the old one. So a consumer takes the
site from its own patient row, which the transfer moved (``ServiceSpec``'s
``patient_site_table``); the event's own site counts only while it has no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from iopnet.catalog import (
    DomainEvent,
    PatientAdmitted,
    PatientEvent,
    PatientForgotten,
    PatientTransferred,
)
from iopnet.db import Connection

#: The events after which a patient's row may stand elsewhere, or be gone, or be new: the
#: transfer moves it, forgetting deletes it, an admission makes it (or, a readmission,
#: may move it). Any other event leaves a patient's existing row where it is.
MOVES_THE_ROW = (PatientTransferred, PatientForgotten, PatientAdmitted)


class SiteOf(Protocol):
    """The site where the service keeps a patient now, or None for a patient it does not
    know; ``for_transfer``: the row is the caller's alone until it commits."""

    async def __call__(self, conn: Connection, patient_id: str, *,
                       for_transfer: bool = False) -> str | None: ...


@dataclass(frozen=True)
class SiteIn:
    """The patient's site as ``table`` (keyed by ``patient_id``) holds it.

    The row stays locked until the transaction ends: shared by the events that read it,
    exclusive for a transfer, which takes it before it moves anything. So the two take
    turns: an event read before the transfer wrote its rows at the old site before the
    transfer moves them, and one read after sees the new site (Postgres reads the row
    again once it waited). Without it, a row written at the old site while a transfer
    commits would stay there, hidden from the new site.
    """

    table: str

    async def __call__(self, conn: Connection, patient_id: str, *,
                       for_transfer: bool = False) -> str | None:
        lock = "FOR NO KEY UPDATE" if for_transfer else "FOR SHARE"
        site: str | None = await conn.fetchval(
            f"SELECT site_id FROM {self.table} WHERE patient_id = $1 {lock}", patient_id)
        return site

    async def of_patients(self, conn: Connection, patient_ids: Collection[str]
                          ) -> dict[str, str]:
        """The sites of those of ``patient_ids`` the service keeps, read and locked as
        ``__call__`` reads one."""
        # ``ANY($1)``: the array takes the column's type (text or uuid), so its index serves.
        rows = await conn.fetch(
            f"SELECT patient_id::text, site_id FROM {self.table} WHERE patient_id = ANY($1)"
            " ORDER BY patient_id FOR SHARE", sorted(patient_ids))
        return {row["patient_id"]: row["site_id"] for row in rows}


def site_in(table: str) -> SiteOf:
    return SiteIn(table)


async def localized(conn: Connection, event: DomainEvent, site_of: SiteOf | None
                    ) -> DomainEvent:
    """``event`` with the site where its patient's care is now (a transfer says it itself,
    and first takes the patient's row)."""
    if site_of is None or not isinstance(event, PatientEvent):
        return event
    if isinstance(event, PatientTransferred):
        await site_of(conn, event.patient_id, for_transfer=True)
        return event
    return _at(event, await site_of(conn, event.patient_id))


def _at(event: PatientEvent, site: str | None) -> DomainEvent:
    return event if site is None or site == event.site_id else event.model_copy(
        update={"site_id": site})


@dataclass
class Sites:
    """``localized`` for a run of events in one transaction (a consumer's batch): the rows of
    the run's patients are read and locked in one statement, when the first of them is
    needed (by a ``SiteIn``; any other ``SiteOf`` is asked patient by patient), and kept
    until an event of the patient may have moved its row (``MOVES_THE_ROW``), or made it
    (a patient without a row)."""

    site_of: SiteOf | None
    #: Patients whose rows the run will read.
    patients: set[str] = field(default_factory=set)
    _known: dict[str, str | None] = field(default_factory=dict)
    _read: bool = False

    async def localized(self, conn: Connection, event: DomainEvent) -> DomainEvent:
        if self.site_of is None or not isinstance(event, PatientEvent):
            return event
        if isinstance(event, PatientTransferred):
            self._known.pop(event.patient_id, None)
            return await localized(conn, event, self.site_of)
        if not self._read and isinstance(self.site_of, SiteIn):
            self._read = True
            found = await self.site_of.of_patients(conn, self.patients)
            # A uuid column answers in its canonical spelling.
            self._known = {p: found.get(p) or found.get(_canonical(p)) for p in self.patients}
        patient = event.patient_id
        site = self._known[patient] if patient in self._known else await self.site_of(
            conn, patient)
        self._known[patient] = site
        return _at(event, site)

    def projected(self, event: DomainEvent) -> None:
        """After ``event`` was projected (and reacted to): forget what it may have changed."""
        if isinstance(event, PatientEvent) and (
                isinstance(event, MOVES_THE_ROW) or self._known.get(event.patient_id) is None):
            self._known.pop(event.patient_id, None)


def _canonical(patient_id: str) -> str:
    try:
        return str(uuid.UUID(patient_id))
    except ValueError:
        return patient_id

"""A rebuild's own map of where each patient is, so that a consumed event's site needs
no read (``iopnet.rebuild``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from iopnet import statements, transfers
from iopnet.db import Connection


class _Unknown:
    """A patient's site the rebuild cannot tell without reading it."""


UNKNOWN = _Unknown()


class SiteMap:
    """The rebuild's own map of patient → the site of their row in the service's
    patient site table (``iopnet.transfers``), kept from the writes the projectors make,
    in the order they make them: a consumed event's site is known without a read, so
    without sending the writes held (which would shrink the runs to one event).

    The shadow tables start empty: a patient never written has no row. Plain writes are
    followed (``iopnet.statements``): an INSERT of the patient's row, an UPDATE of its
    ``site_id`` by ``patient_id``, a DELETE; writes that assign no ``site_id`` change
    nothing. Any other write to the table makes its patient's site (every patient's,
    for a write of no patient) unknown until it is read again.
    """

    def __init__(self, table: str) -> None:
        self.table = table
        self._known: dict[str, str | None] = {}
        self._unknown: set[str] = set()
        self._all_unknown = False
        #: Per statement: whether it may write the table.
        self._touches: dict[str, bool] = {}

    def site(self, patient_id: str) -> str | _Unknown | None:
        if patient_id in self._known:
            return self._known[patient_id]
        return UNKNOWN if self._all_unknown or patient_id in self._unknown else None

    def learned(self, patient_id: str, site: str | None) -> None:
        self._known[patient_id] = site
        self._unknown.discard(patient_id)

    def wrote(self, query: str, args: Sequence[object], key: str | None) -> None:
        if (touches := self._touches.get(query)) is None:
            touches = self._touches[query] = (statements.mentions(query, self.table)
                                              and not _READ.fullmatch(query))
        if not touches:
            return
        patient = None
        if (insert := statements.insert(query)) is not None:
            if insert.table != self.table:
                return  # a read of it, in the values
            patient = _argument(args, insert.parameter_of("patient_id"))
            if patient is not None and self._inserted(insert, patient, args):
                return
        elif (change := statements.change(query)) is not None:
            assigns = change.assigns if change.assigns is not None else {"*"}  # a delete
            if change.table != self.table or not {"site_id", "*"} & assigns:
                return  # another table's, or no site_id assigned
            patient = _argument(args, change.patient)
            if patient is not None and self._changed(change, patient, args):
                return
        self._forget(key)
        if patient is not None:
            self._forget(patient)

    def _inserted(self, insert: statements.Insert, patient: str, args: Sequence[object]
                  ) -> bool:
        """Whether the INSERT of ``patient``'s row was followed."""
        site = _argument(args, insert.parameter_of("site_id"))
        before = self.site(patient)
        if before is UNKNOWN:
            return True
        own_key = insert.keys == ("patient_id",) or (insert.conflict is None and not insert.keys)
        if before is None:  # inserted (or failed, and the rebuild with it)
            if site is None or not own_key:
                return False
            self._known[patient] = site
            return True
        # the row is there: kept on a conflict, unless the conflict assigns its site
        return (insert.conflict is not None and insert.keys in ((), ("patient_id",))
                and not insert.assigns_on_conflict("site_id"))

    def _changed(self, change: statements.Change, patient: str, args: Sequence[object]
                 ) -> bool:
        """Whether the UPDATE or DELETE of ``patient``'s row was followed."""
        if change.assigns is None:  # deleted
            self.learned(patient, None)
            return True
        site = _argument(args, change.parameters.get("site_id"))
        if site is None:
            return False
        if isinstance(self.site(patient), str):  # no row: nothing moves
            self._known[patient] = site
        return True

    def _forget(self, key: str | None) -> None:
        if key is None:
            self._known.clear()
            self._unknown.clear()
            self._all_unknown = True
        else:
            self._known.pop(key, None)
            self._unknown.add(key)

    def site_of(self) -> transfers.SiteOf:
        """Where a patient is, as ``transfers.site_in`` says it, from this map; read (what
        is held sent first) only when the map cannot tell."""
        reading = f"SELECT site_id FROM {self.table} WHERE patient_id = $1"

        async def site_of(conn: Connection, patient_id: str, *,
                          for_transfer: bool = False) -> str | None:
            site = self.site(patient_id)
            if isinstance(site, _Unknown):
                site = cast(str | None, await conn.fetchval(reading, patient_id))
                self.learned(patient_id, site)
            return site

        return site_of


_READ = re.compile(r"\s*SELECT\b(?!.*\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b).*", re.I | re.S)


def _argument(args: Sequence[object], index: int | None) -> str | None:
    """A text argument, by its index; None for none (or a NULL)."""
    if index is None or index >= len(args) or args[index] is None:
        return None
    return str(args[index])

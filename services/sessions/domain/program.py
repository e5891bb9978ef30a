"""A site's program and its weekly groups: the aggregate behind ``program-<site>/<program>``.

Defining a program or adding a group again with the very same details changes
nothing (a retried request); the same id with other details is refused.
"""

from __future__ import annotations

from iopnet.aggregate import Aggregate
from iopnet.catalog import DomainEvent
from services.sessions.domain.events import GroupAdded, ProgramDefined
from services.sessions.domain.schedule import Group


class IdTaken(Exception):
    """A program or group id already stands for other details."""

    def __init__(self, resource: str, identifier: str) -> None:
        super().__init__(f"{resource} {identifier} already exists with other details")
        self.resource = resource
        self.identifier = identifier


class Program(Aggregate):
    stream_prefix = "program"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.site_id, self.program_id = aggregate_id.split("/", 1)
        self.name: str | None = None
        #: By group id, in the order they were added.
        self.groups: dict[str, Group] = {}

    @classmethod
    def key(cls, site_id: str, program_id: str) -> str:
        return f"{site_id}/{program_id}"

    @property
    def defined(self) -> bool:
        return self.name is not None

    def define(self, name: str) -> bool:
        """Define the program; False when it already is, with that name."""
        if self.name is not None:
            if self.name != name:
                raise IdTaken("program", self.program_id)
            return False
        self.record(ProgramDefined(site_id=self.site_id, program_id=self.program_id, name=name))
        return True

    def add_group(self, group: Group) -> bool:
        """Add a weekly group; False when the program already has it, alike."""
        existing = self.groups.get(group.group_id)
        if existing is not None:
            if existing != group:
                raise IdTaken("group", group.group_id)
            return False
        self.record(GroupAdded(
            site_id=self.site_id, program_id=self.program_id, group_id=group.group_id,
            modality=group.modality, clinician_id=group.clinician_id, weekday=group.weekday,
            starts_at=group.starts_at, duration_minutes=group.duration_minutes,
            capacity=group.capacity,
        ))
        return True

    def schedule_groups(self) -> list[Group]:
        """The groups in the order scheduling looks at them."""
        return sorted(self.groups.values(), key=lambda g: g.order)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ProgramDefined():
                self.name = event.name
            case GroupAdded():
                self.groups[event.group_id] = group_of(event)


def group_of(added: GroupAdded) -> Group:
    return Group(site_id=added.site_id, program_id=added.program_id, group_id=added.group_id,
                 modality=added.modality, clinician_id=added.clinician_id,
                 weekday=added.weekday, starts_at=added.starts_at,
                 duration_minutes=added.duration_minutes, capacity=added.capacity)

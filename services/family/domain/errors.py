"""Why the family domain refuses a command."""

from __future__ import annotations

from iopnet.fields import InvalidField


class FamilyRuleBroken(Exception):
    """A command the circle's current state does not allow (answered 409)."""


class ConsentAlreadyRevoked(FamilyRuleBroken):
    pass


class NotFound(LookupError):
    """A support person or consent the circle does not know (answered 404)."""

    def __init__(self, resource: str, identifier: str) -> None:
        super().__init__(f"no {resource} {identifier}")
        self.resource = resource
        self.identifier = identifier


class InvalidRequest(InvalidField):
    """A request field the rules refuse (answered 422, with the field at fault)."""

"""Input that a rule refuses, named by the field at fault.

Domain modules raise a subclass of InvalidField with the field as they know
it (``items[8]``, ``changes[1].intervention_id``, ``items/3`` or a ready JSON
pointer such as ``#/expires_on``); the app factory answers 422 problem+json
with that field as a JSON pointer. Pure: no web framework here.
"""

from __future__ import annotations

import re


class InvalidField(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def pointer(self) -> str:
        """``changes[1].intervention_id`` → ``#/changes/1/intervention_id``."""
        if self.field.startswith("#/"):
            return self.field
        return "#/" + re.sub(r"\[(\d+)\]", r"/\1", self.field).replace(".", "/")

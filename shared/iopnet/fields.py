"""Input that a rule refuses, named by the field at fault.

Domain modules raise a subclass of InvalidField with the field as they know
it (``items[8]``, ``changes[1].intervention_id``, ``items/3`` or a ready JSON
pointer such as ``#/expires_on``); the app factory answers 422 problem+json
with that field as a JSON pointer. Pure: no web framework here.

Request bodies (``Strict``) and identifiers (``Identifier``) are checked here
too, by pydantic; what they refuse is answered the same way.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The id of a site, program, group or clinician, in every service.
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Strict(BaseModel):
    """A request body: unknown fields are an error, not silently dropped, and so is text
    holding a NUL character (``\\u0000``), which Postgres cannot store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def no_nul_character(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("must not contain the NUL character (\\u0000)")
        return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(item) for item in value)
    return False  # numbers, dates, enums; a nested Strict body checked its own fields


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

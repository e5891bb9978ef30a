"""The event envelope: CloudEvents 1.0 attributes plus iopnet's extensions.

Every event that leaves a service travels in this envelope. The CloudEvents
context attributes identify it (``id``, ``source``, ``type``), say when it
happened (``time``) and whose it is (``subject`` = patient id). Extension
attributes (lower-case, as CloudEvents requires) carry what event sourcing and
tracing need: the site, the stream and its version, the correlation and
causation ids, and the schema version of ``data``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION: Literal["1.0"] = "1.0"
JSON: Literal["application/json"] = "application/json"


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventEnvelope(BaseModel):
    """One recorded event, in CloudEvents 1.0 form.

    A tolerant reader: an attribute added by a newer producer is ignored.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    # CloudEvents required and optional context attributes.
    id: str = Field(default_factory=new_id)
    source: str
    type: str
    specversion: Literal["1.0"] = SPEC_VERSION
    time: datetime = Field(default_factory=utc_now)
    subject: str
    datacontenttype: Literal["application/json"] = JSON
    # iopnet extension attributes.
    siteid: str
    streamid: str
    streamversion: int = Field(ge=1)
    correlationid: str
    causationid: str
    schemaversion: int = Field(default=1, ge=1)
    data: dict[str, Any]

    def caused(self, **attributes: Any) -> dict[str, str]:
        """Correlation and causation ids for an event this one causes."""
        return {"correlationid": self.correlationid, "causationid": self.id, **attributes}


#: Context and extension attributes, in the order they appear on the wire.
ATTRIBUTES: tuple[str, ...] = tuple(name for name in EventEnvelope.model_fields if name != "data")

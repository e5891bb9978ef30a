"""How an envelope rides on Kafka: the CloudEvents Kafka protocol binding, binary mode.

- The record **key** is the ``subject`` (the patient id), so one patient's
  events go to one partition and keep their order.
- The record **value** is the event's ``data`` as JSON, unwrapped.
- Every other attribute is a header named ``ce_<attribute>``; ``content-type``
  carries ``datacontenttype``. Header values are UTF-8 strings (``time`` in
  RFC 3339).

Binary mode lets brokers, tools and consumers route and filter on headers
without parsing the body, and leaves the body as plain domain JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iopnet.envelope import ATTRIBUTES, EventEnvelope

HEADER_PREFIX = "ce_"
CONTENT_TYPE = "content-type"


@dataclass(frozen=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class MalformedRecord(ValueError):
    """A Kafka record that is not a valid iopnet CloudEvent."""


def header_name(attribute: str) -> str:
    """The Kafka header that carries an envelope attribute."""
    return CONTENT_TYPE if attribute == "datacontenttype" else HEADER_PREFIX + attribute


def to_record(envelope: EventEnvelope) -> KafkaRecord:
    attributes = envelope.model_dump(mode="json", exclude={"data"})
    headers = [(header_name(name), str(value).encode()) for name, value in attributes.items()]
    value = json.dumps(envelope.data, separators=(",", ":"), sort_keys=True).encode()
    return KafkaRecord(key=envelope.subject.encode(), value=value, headers=headers)


def from_record(value: bytes, headers: Sequence[tuple[str, bytes]]) -> EventEnvelope:
    fields: dict[str, Any] = {}
    try:  # UnicodeDecodeError, too, is a ValueError: a header of invalid UTF-8 is malformed
        for name, raw in headers:
            if name == CONTENT_TYPE:
                fields["datacontenttype"] = raw.decode()
            elif name.startswith(HEADER_PREFIX) and name[len(HEADER_PREFIX) :] in ATTRIBUTES:
                fields[name[len(HEADER_PREFIX) :]] = raw.decode()
        fields["data"] = json.loads(value)
        return EventEnvelope.model_validate(fields)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise MalformedRecord(str(error)) from error

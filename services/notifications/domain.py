"""The notifications domain: which messages an event calls for. Pure; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from iopnet.catalog import PatientAdmitted


class MessageKind(StrEnum):
    WELCOME = "welcome"


class DeliveryStatus(StrEnum):
    PENDING = "pending"


@dataclass(frozen=True)
class MessageDraft:
    """A message to send. ``caused_by`` (an event id) makes each message happen once."""

    patient_id: str
    site_id: str
    kind: MessageKind
    caused_by: str


def welcome(admitted: PatientAdmitted, event_id: str) -> MessageDraft:
    return MessageDraft(admitted.patient_id, admitted.site_id, MessageKind.WELCOME, event_id)

"""The base of every catalogued event: plain, frozen, validated data."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from iopnet.envelope import EventEnvelope

TYPE_PREFIX = "iopnet."

#: Every event type the network knows, by its CloudEvents ``type``.
CATALOG: dict[str, type[DomainEvent]] = {}


class UnknownEventType(LookupError):
    """An envelope whose type is not in the catalog (a newer producer, say)."""


class EventPart(BaseModel):
    """A value nested in an event. A tolerant reader like the event itself: a field
    added by a newer producer is ignored, at every level."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class DomainEvent(BaseModel):
    """A fact in the domain's words. Concrete subclasses are registered in CATALOG.

    Events carry identifiers and clinical codes only: no names, contact
    details or free-text notes, which stay with the service that owns them.
    """

    # Tolerant readers: a field added by a newer producer is ignored by an older
    # consumer instead of sending the event to its dead letters.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    #: Kinds of event (not events themselves) set this in their own body.
    abstract: ClassVar[bool] = True
    #: False for a service's private facts: kept in its event store, never on Kafka.
    published: ClassVar[bool] = True
    #: Fields holding personal data, sealed with the subject's data key when stored.
    #: Each is optional: it reads as None once the subject is forgotten.
    sealed_fields: ClassVar[tuple[str, ...]] = ()
    #: Event types, published on another topic, that this event follows for the same
    #: subject: a consumer reading both applies it only after one of them
    #: (``iopnet.causal``). Topics are not ordered with each other.
    follows: ClassVar[tuple[str, ...]] = ()

    site_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            cls.event_type = TYPE_PREFIX + cls.__name__
            CATALOG[cls.event_type] = cls

    @property
    def subject(self) -> str:
        """Whose event it is: the Kafka key and the CloudEvents ``subject``."""
        raise NotImplementedError


class PatientEvent(DomainEvent):
    """Something that happened in one patient's care; keyed by the patient."""

    abstract: ClassVar[bool] = True

    patient_id: str

    @property
    def subject(self) -> str:
        return self.patient_id


class NetworkEvent(DomainEvent):
    """Something that happened to a site of the network or its keys; keyed by the site."""

    abstract: ClassVar[bool] = True

    @property
    def subject(self) -> str:
        return self.site_id


class PrivatePatientEvent(PatientEvent):
    """A fact a service keeps to itself (a name, a note, contact details): never published.

    Its ``sealed_fields`` are encrypted with the patient's data key in the event
    store, so destroying that key forgets them everywhere, rebuilds included.
    """

    abstract: ClassVar[bool] = True
    published: ClassVar[bool] = False


class PrivateNetworkEvent(NetworkEvent):
    """A site's private setting (a webhook secret, a template): kept, never published."""

    abstract: ClassVar[bool] = True
    published: ClassVar[bool] = False


def event_class_of(envelope: EventEnvelope) -> type[DomainEvent]:
    try:
        return CATALOG[envelope.type]
    except KeyError:
        raise UnknownEventType(envelope.type) from None

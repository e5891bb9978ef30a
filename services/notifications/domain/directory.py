"""Where messages go: a patient's circle's addresses, a site's channels and templates."""

from __future__ import annotations

from datetime import datetime, timedelta

from iopnet.aggregate import Aggregate
from iopnet.catalog import DomainEvent
from services.notifications.domain.channels import SiteChannels
from services.notifications.domain.events import (
    PatientContactSet,
    SiteChannelsSet,
    SiteTemplateSet,
    SupportPersonContactSet,
)
from services.notifications.domain.messages import MessageKind
from services.notifications.domain.templates import Template


class Contacts(Aggregate):
    """The addresses of a patient and of the support persons known for them."""

    stream_prefix = "contacts"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.email: str | None = None
        self.support_persons: dict[str, str | None] = {}

    def set_patient_email(self, site_id: str, email: str) -> None:
        self.record(PatientContactSet(patient_id=self.id, site_id=site_id, email=email))

    def set_support_person_email(self, site_id: str, support_person_id: str, email: str
                                 ) -> None:
        self.record(SupportPersonContactSet(patient_id=self.id, site_id=site_id,
                                            support_person_id=support_person_id, email=email))

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, PatientContactSet):
            self.email = event.email
        elif isinstance(event, SupportPersonContactSet):
            self.support_persons[event.support_person_id] = event.email


def channels_of(site_id: str, event: SiteChannelsSet) -> SiteChannels:
    window = event.acknowledge_within_seconds
    return SiteChannels(site_id, event.clinician_alert_email, event.webhook_url,
                        event.webhook_secret, event.previous_webhook_secret,
                        event.previous_secret_until, event.escalation_email,
                        timedelta(seconds=window) if window is not None else None)


class SiteSettings(Aggregate):
    """A site's channels and its own templates."""

    stream_prefix = "site-notifications"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.channels = SiteChannels(aggregate_id)
        self.templates: dict[MessageKind, Template] = {}

    def set_channels(self, channels: SiteChannels, now: datetime, overlap: timedelta
                     ) -> SiteChannels:
        """Replace the channels; a rotated webhook secret still signs for ``overlap``."""
        channels = channels.replacing(self.channels, now, overlap)
        self.record(SiteChannelsSet(
            site_id=self.id, clinician_alert_email=channels.clinician_alert_email,
            webhook_url=channels.webhook_url, webhook_secret=channels.webhook_secret,
            previous_webhook_secret=channels.previous_webhook_secret,
            previous_secret_until=channels.previous_secret_until,
            escalation_email=channels.escalation_email,
            acknowledge_within_seconds=(channels.acknowledge_within.total_seconds()
                                        if channels.acknowledge_within else None)))
        return channels

    def set_template(self, kind: MessageKind, template: Template) -> None:
        self.record(SiteTemplateSet(site_id=self.id, kind=kind.value,
                                    subject_line=template.subject,
                                    body=template.body))

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, SiteChannelsSet):
            self.channels = channels_of(self.id, event)
        elif isinstance(event, SiteTemplateSet):
            self.templates[MessageKind(event.kind)] = Template(event.subject_line, event.body)

"""The network registry every service keeps: sites and API keys, projected from events.

Intake records the events; every service (intake in its own transaction, the
others through their consumers) applies them here, so a key issued or revoked
anywhere is known everywhere within moments, and no request waits on another
service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from iopnet.catalog import (
    ApiKeyIssued,
    ApiKeyRevoked,
    DomainEvent,
    PatientTransferred,
    Scope,
    SiteOnboarded,
    SitePolicies,
    SitePoliciesChanged,
)
from iopnet.consumer import Projection, Projector
from iopnet.db import Connection
from iopnet.envelope import EventEnvelope
from iopnet.provenance import UntrustedRecord
from iopnet.topics import network_topic, topic_of


# Times come from the event, never from the clock: a rebuild must write the same rows.
async def on_site_onboarded(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                            ) -> None:
    assert isinstance(event, SiteOnboarded)
    await conn.execute(
        "INSERT INTO sites (site_id, name, time_zone, policies, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id) DO NOTHING",
        event.site_id, event.name, event.time_zone, event.policies.model_dump(mode="json"),
        envelope.time,
    )


async def on_site_policies_changed(
    conn: Connection, event: DomainEvent, envelope: EventEnvelope
) -> None:
    assert isinstance(event, SitePoliciesChanged)
    await conn.execute(
        "UPDATE sites SET policies = $2, updated_at = $3 WHERE site_id = $1",
        event.site_id, event.policies.model_dump(mode="json"), envelope.time,
    )


async def on_api_key_issued(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                            ) -> None:
    """A site's key. The operator's key is never issued by an event: whoever could write
    one would hold every site."""
    assert isinstance(event, ApiKeyIssued)
    if Scope.OPERATOR in event.scopes:
        raise UntrustedRecord(f"ApiKeyIssued {event.key_id} carries the operator scope")
    await conn.execute(
        "INSERT INTO api_keys (key_id, site_id, secret_sha256, scopes, expires_at,"
        " rate_limit_per_minute, replaces, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (key_id) DO NOTHING",
        event.key_id, event.site_id, event.secret_sha256, [s.value for s in event.scopes],
        event.expires_at, event.rate_limit_per_minute, event.replaces, envelope.time,
    )


async def on_api_key_revoked(conn: Connection, event: DomainEvent, envelope: EventEnvelope
                             ) -> None:
    assert isinstance(event, ApiKeyRevoked)
    await conn.execute(
        "UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL",
        event.key_id, envelope.time,
    )


REGISTRY_PROJECTORS: dict[type[DomainEvent], Projector] = {
    SiteOnboarded: on_site_onboarded,
    SitePoliciesChanged: on_site_policies_changed,
    ApiKeyIssued: on_api_key_issued,
    ApiKeyRevoked: on_api_key_revoked,
}


def transfer_projector(tables: Sequence[str]) -> Projector:
    """Moves a transferred patient's current rows to the new site; history rows stay."""
    statements = [f"UPDATE {table} SET site_id = $2 WHERE patient_id = $1" for table in tables]

    async def on_patient_transferred(
        conn: Connection, event: DomainEvent, _: EventEnvelope
    ) -> None:
        assert isinstance(event, PatientTransferred)
        for statement in statements:
            await conn.execute(statement, event.patient_id, event.site_id)

    return on_patient_transferred


def network_projection(patient_tables: Sequence[str]) -> Projection:
    """What every service that learns the network from Kafka projects."""
    return Projection(
        topics=[network_topic(), topic_of("intake")],
        projectors={**REGISTRY_PROJECTORS, PatientTransferred: transfer_projector(patient_tables)},
    )


async def site_policies(conn: Connection, site_id: str) -> SitePolicies:
    """A site's policies; the network defaults for a site not (yet) known here."""
    policies = await conn.fetchval("SELECT policies FROM sites WHERE site_id = $1", site_id)
    return SitePolicies.model_validate(policies) if policies else SitePolicies()


async def site_time_zone(conn: Connection, site_id: str, default: str = "UTC") -> str:
    zone = await conn.fetchval("SELECT time_zone FROM sites WHERE site_id = $1", site_id)
    return str(zone) if zone else default


async def site_date(conn: Connection, site_id: str, at: datetime | None = None) -> date:
    """The date at the site at ``at`` (by default now): a clinic's day, not the server's."""
    return date_in(await site_time_zone(conn, site_id), at)


def date_in(zone: str, at: datetime | None = None) -> date:
    """The date in the IANA ``zone`` at ``at`` (by default now)."""
    return (at or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()


async def key_record(conn: Connection, key_id: str) -> dict[str, object] | None:
    row = await conn.fetchrow(
        "SELECT key_id, site_id, secret_sha256, scopes, expires_at, rate_limit_per_minute,"
        " revoked_at FROM api_keys WHERE key_id = $1", key_id,
    )
    return dict(row) if row else None


def usable(record: dict[str, object], now: datetime) -> bool:
    expires_at, revoked_at = record["expires_at"], record["revoked_at"]
    if revoked_at is not None:
        return False
    return not (isinstance(expires_at, datetime) and expires_at <= now)

"""Least privilege in the database: what the services' login and its roles may do.

The schema belongs to the migration owner. The services connect as a login that owns
nothing and is a member of ``iopnet_api`` (requests) and ``iopnet_worker`` (relay,
consumer, jobs, and the API's bookkeeping before a caller is known).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from iopctl.pgsql import (
    OWNER,
    ServiceDsns,
    drop_database,
    hand_to_owner,
    recreate_database,
    restricted_database,
    with_database,
)
from iopctl.stack import spec_of
from iopnet.topics import SERVICES
from services.intake.service import SPEC as INTAKE
from tests.fixtures import previous_release
from tests.fixtures.infra import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture
async def intake_database(infra: Endpoints) -> AsyncIterator[ServiceDsns]:
    name = f"t_roles_{uuid.uuid4().hex[:8]}"
    dsns = await restricted_database(infra.pg_admin_dsn, name)
    await INTAKE.migrate(dsns.owner)
    yield dsns
    await drop_database(infra.pg_admin_dsn, name)


@pytest.fixture
async def runtime(intake_database: ServiceDsns) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(intake_database.runtime)
    yield conn
    await conn.close()


async def privileges(conn: asyncpg.Connection, role: str, checks: list[tuple[str, str]]
                     ) -> dict[tuple[str, str], bool]:
    rows = await conn.fetch(
        "SELECT t, p, has_table_privilege($1, t, p) AS granted"
        " FROM unnest($2::text[], $3::text[]) AS c(t, p)",
        role, [t for t, _ in checks], [p for _, p in checks])
    return {(row["t"], row["p"]): row["granted"] for row in rows}


async def test_the_request_role_appends_events_but_never_changes_them(
    runtime: asyncpg.Connection,
) -> None:
    granted = await privileges(runtime, "iopnet_api", [
        ("events", "INSERT"), ("events", "SELECT"), ("events", "UPDATE"), ("events", "DELETE"),
        ("event_streams", "UPDATE"), ("event_streams", "DELETE"),
        ("outbox", "INSERT"), ("outbox", "SELECT"), ("outbox", "UPDATE"), ("outbox", "DELETE"),
        ("applied_events", "SELECT"), ("consumer_offsets", "UPDATE"),
        ("dead_letters", "SELECT"), ("audit_log", "UPDATE"), ("audit_log", "DELETE"),
        ("schema_migrations", "SELECT"), ("patients", "SELECT"),
    ])
    assert {check for check, ok in granted.items() if ok} == {
        ("events", "INSERT"), ("events", "SELECT"), ("event_streams", "UPDATE"),
        ("outbox", "INSERT"), ("patients", "SELECT")}


async def test_the_request_role_cannot_read_key_hashes(runtime: asyncpg.Connection) -> None:
    hash_readable = await runtime.fetchval(
        "SELECT has_column_privilege('iopnet_api', 'api_keys', 'secret_sha256', 'SELECT')")
    id_readable = await runtime.fetchval(
        "SELECT has_column_privilege('iopnet_api', 'api_keys', 'key_id', 'SELECT')")
    assert (hash_readable, id_readable) == (False, True)
    async with runtime.transaction():
        await runtime.execute("SET LOCAL ROLE iopnet_api")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.fetch("SELECT secret_sha256 FROM api_keys")


async def test_workers_move_the_outbox_and_inbox_but_never_change_events(
    runtime: asyncpg.Connection,
) -> None:
    granted = await privileges(runtime, "iopnet_worker", [
        ("events", "INSERT"), ("events", "UPDATE"), ("events", "DELETE"),
        ("outbox", "SELECT"), ("outbox", "DELETE"), ("applied_events", "INSERT"),
        ("applied_events", "DELETE"), ("consumer_offsets", "UPDATE"),
        ("dead_letters", "INSERT"), ("audit_log", "INSERT"), ("audit_log", "DELETE"),
    ])
    assert {check for check, ok in granted.items() if not ok} == {
        ("events", "UPDATE"), ("events", "DELETE"), ("applied_events", "DELETE"),
        ("audit_log", "DELETE")}
    assert await runtime.fetchval(
        "SELECT has_column_privilege('iopnet_worker', 'outbox', 'parked_at', 'UPDATE')")
    assert not await runtime.fetchval(
        "SELECT has_column_privilege('iopnet_worker', 'outbox', 'envelope', 'UPDATE')")


async def test_the_login_owns_nothing_and_cannot_disable_the_audit_trail(
    runtime: asyncpg.Connection,
) -> None:
    owned = await runtime.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relowner = current_user::regrole")
    assert owned == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await runtime.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only_rows")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await runtime.execute("ALTER TABLE patients DISABLE ROW LEVEL SECURITY")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await runtime.execute("UPDATE events SET event_type = event_type")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await runtime.execute("CREATE TABLE mine (id int)")


async def test_the_worker_sees_every_site_and_a_request_only_its_own(
    runtime: asyncpg.Connection,
) -> None:
    for site in ("site-a", "site-b"):
        await runtime.execute(
            "INSERT INTO patients (patient_id, site_id, status, referral_id, referral_source,"
            " referred_on, version) VALUES ($1, $2, 'referred', $1, 'self', current_date, 1)",
            uuid.uuid4(), site)
    assert await runtime.fetchval("SELECT count(*) FROM patients") == 2
    async with runtime.transaction():
        await runtime.execute("SELECT set_config('role', 'iopnet_api', true),"
                              " set_config('iopnet.site_id', 'site-a', true)")
        assert await runtime.fetchval("SELECT array_agg(site_id) FROM patients") == ["site-a"]


async def test_dead_letters_are_resolved_and_purged_but_never_rewritten_at_run_time(
    runtime: asyncpg.Connection,
) -> None:
    """``iopctl dead-letters`` may run as the services' login; what a record held stays."""
    columns = {column: await runtime.fetchval(
        "SELECT has_column_privilege('iopnet_worker', 'dead_letters', $1, 'UPDATE')", column)
        for column in ("resolved_at", "resolution", "resolved_by", "reason", "error",
                       "value", "headers", "raw_headers", "record_key", "event_id")}
    assert {column for column, ok in columns.items() if ok} == {
        "resolved_at", "resolution", "resolved_by", "reason", "error"}
    granted = await privileges(runtime, "iopnet_worker", [
        ("dead_letters", "DELETE"), ("parked_records", "INSERT"), ("parked_records", "UPDATE"),
        ("parked_records", "DELETE"), ("held_events", "INSERT"), ("held_events", "DELETE")])
    assert all(granted.values())
    refused = await privileges(runtime, "iopnet_api", [
        ("dead_letters", "SELECT"), ("parked_records", "SELECT"), ("held_events", "SELECT")])
    assert not any(refused.values())


@pytest.mark.parametrize("service", SERVICES)
async def test_a_previous_release_database_handed_to_the_owner_gets_the_same_privileges(
    infra: Endpoints, service: str,
) -> None:
    """Its tables belonged to the services' user (here the superuser): handed to the
    owner as docs/operations.md says, ``migrate`` as the owner leaves the login nothing
    to own and the request role nothing to rewrite."""
    name = f"t_roles_upgrade_{uuid.uuid4().hex[:8]}"
    await recreate_database(infra.pg_admin_dsn, name)
    try:
        await previous_release.build_database(with_database(infra.pg_admin_dsn, name), service)
        dsns = await hand_to_owner(infra.pg_admin_dsn, name)
        await spec_of(service).migrate(dsns.owner)
        conn = await asyncpg.connect(dsns.runtime)
        try:
            owners = await conn.fetchval(
                "SELECT array_agg(DISTINCT pg_get_userbyid(c.relowner)) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
            granted = await privileges(conn, "iopnet_api", [
                ("events", "UPDATE"), ("events", "DELETE"), ("outbox", "SELECT"),
                ("applied_events", "SELECT"), ("dead_letters", "SELECT")])
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        finally:
            await conn.close()
    finally:
        await drop_database(infra.pg_admin_dsn, name)
    assert owners == [OWNER]
    assert not any(granted.values())

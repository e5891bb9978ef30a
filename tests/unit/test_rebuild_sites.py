"""A rebuild knows each patient's site from the writes it makes into the patient site table
(no read, so no flush of the held writes), and sends a run of one INSERT as one statement;
what it cannot follow it leaves to a read, or to one execution a row."""

from __future__ import annotations

import uuid
from typing import cast

import pytest

from iopnet import statements
from iopnet.db import Connection
from iopnet.held_writes import HeldWrites, _distinct, runs
from iopnet.rebuild_sites import UNKNOWN, SiteMap

pytestmark = pytest.mark.unit

OPEN = ("INSERT INTO family_circles (patient_id, site_id, admitted_on, baseline_phq9,"
        " opened_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id) DO NOTHING")
MOVE = "UPDATE family_circles SET site_id = $2 WHERE patient_id = $1"
FORGET = "DELETE FROM family_circles WHERE patient_id = $1"
ENROL = ("INSERT INTO enrollments (patient_id, site_id, program_id, days_per_week,"
         " weekly_hours_target, starts_on, ends_on, status, clinician_id, time_zone,"
         " baseline_phq9, enrolled_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
         " CASE WHEN EXISTS (SELECT FROM patient_sessions WHERE patient_id = $1)"
         " THEN 'scheduled' ELSE 'awaiting_schedule' END,"
         " $8, $9, $10, $11, $11) ON CONFLICT (patient_id) DO NOTHING")
SCHEDULED = ("INSERT INTO scheduled_sessions (session_id, patient_id, site_id, kind, starts_at,"
             " duration_minutes, waitlisted) VALUES ($1, $2, $3, $4, $5, $6, $7)"
             " ON CONFLICT (session_id) DO UPDATE SET kind = $4, starts_at = $5,"
             " duration_minutes = $6, waitlisted = $7")
ADMITTED = ("INSERT INTO patients (patient_id, site_id, status, program_id, start_date,"
            " clinician_id, baseline_phq9, updated_at) VALUES ($1, $2, 'admitted', $3, $4, $5,"
            " $6, $7) ON CONFLICT (patient_id) DO UPDATE SET status = 'admitted',"
            " program_id = $3, start_date = $4, clinician_id = $5, baseline_phq9 = $6,"
            " updated_at = $7")


def test_a_plain_insert_is_read_column_by_column() -> None:
    insert = statements.insert(ENROL)
    assert insert is not None and insert.table == "enrollments"
    assert insert.parameter_of("patient_id") == 0 and insert.parameter_of("site_id") == 1
    assert insert.parameter_of("status") is None  # an expression, not a parameter
    assert insert.parameter_of("updated_at") == 10
    assert insert.keys == ("patient_id",) and insert.updates is None


def test_commas_and_parentheses_in_quotes_or_calls_do_not_split_values() -> None:
    insert = statements.insert("INSERT INTO t (a, b, c) VALUES ($1, 'x, (y', coalesce($2, ')'))")
    assert insert is not None and insert.values == ("$1", "'x, (y'", "coalesce($2, ')')")
    assert statements.insert("INSERT INTO t (a, b) VALUES ($1, ($2)") is None


def test_a_run_of_an_insert_goes_as_one_unnest() -> None:
    insert = statements.insert(OPEN)
    assert insert is not None
    assert insert.set_based(["uuid", "text", "date", "int4", "timestamptz"]) == (
        "INSERT INTO family_circles (patient_id, site_id, admitted_on, baseline_phq9,"
        " opened_at) SELECT u.p1, u.p2, u.p3, u.p4, u.p5 FROM unnest($1::uuid[],"
        " $2::text[], $3::date[], $4::int4[], $5::timestamptz[]) AS u(p1, p2, p3, p4, p5)"
        " ON CONFLICT (patient_id) DO NOTHING", None)


def test_do_update_takes_the_excluded_row_and_a_key_that_must_not_repeat() -> None:
    insert = statements.insert(SCHEDULED)
    assert insert is not None
    query, key = insert.set_based(["text"] * 7) or ("", None)
    assert key == (0,)
    assert query.endswith("ON CONFLICT (session_id) DO UPDATE SET kind = EXCLUDED.kind,"
                          " starts_at = EXCLUDED.starts_at, duration_minutes ="
                          " EXCLUDED.duration_minutes, waitlisted = EXCLUDED.waitlisted")


def test_what_cannot_go_as_one_statement_is_left_alone() -> None:
    reads_itself = statements.insert(
        "INSERT INTO t (a, n) VALUES ($1, (SELECT count(*) FROM t)) ON CONFLICT DO NOTHING")
    assert reads_itself is not None and reads_itself.set_based(["text"]) is None
    unknown_parameter = statements.insert(
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = t.b + $3")
    assert unknown_parameter is not None
    assert unknown_parameter.set_based(["text"] * 3) is None
    assert statements.insert("INSERT INTO t (a) SELECT a FROM s WHERE id = $1") is None
    assert statements.insert("INSERT INTO t (a) VALUES ($1) RETURNING a") is None
    assert statements.insert("INSERT INTO t (a) VALUES ($1), ($2)") is None


def test_updates_and_deletes_of_one_patient() -> None:
    move = statements.change(MOVE)
    assert move is not None and move.assigns == {"site_id"} and move.patient == 0
    assert move.parameters == {"site_id": 1}
    forget = statements.change(FORGET)
    assert forget is not None and forget.assigns is None and forget.patient == 0
    some = statements.change("UPDATE family_circles SET site_id = $2 WHERE patient_id = $1"
                             " AND site_id = $3")
    assert some is not None and some.patient is None


PATIENT, OTHER = str(uuid.uuid4()), str(uuid.uuid4())


def test_the_map_follows_a_patients_row_through_its_life() -> None:
    sites = SiteMap("family_circles")
    assert sites.site(PATIENT) is None  # the shadow tables start empty
    sites.wrote(OPEN, (uuid.UUID(PATIENT), "north", None, 18, None), PATIENT)
    assert sites.site(PATIENT) == "north"
    sites.wrote(OPEN, (PATIENT, "south", None, 18, None), PATIENT)  # ON CONFLICT DO NOTHING
    assert sites.site(PATIENT) == "north"
    sites.wrote("UPDATE family_circles SET baseline_phq9 = $2 WHERE patient_id = $1",
                (PATIENT, 12), PATIENT)
    sites.wrote("INSERT INTO care_status (patient_id, site_id) VALUES ($1, $2)",
                (PATIENT, "east"), PATIENT)
    assert sites.site(PATIENT) == "north"
    sites.wrote(MOVE, (PATIENT, "south"), PATIENT)
    assert sites.site(PATIENT) == "south"
    sites.wrote(FORGET, (PATIENT,), PATIENT)
    assert sites.site(PATIENT) is None
    sites.wrote(MOVE, (PATIENT, "west"), PATIENT)  # no row: nothing moves
    assert sites.site(PATIENT) is None and sites.site(OTHER) is None


def test_an_upsert_keeps_the_site_unless_it_assigns_it() -> None:
    sites = SiteMap("patients")
    row = (PATIENT, "north", "iop", None, "clin-7", 18, None)
    sites.wrote(ADMITTED, row, PATIENT)
    sites.wrote(ADMITTED, (PATIENT, "south", *row[2:]), PATIENT)
    assert sites.site(PATIENT) == "north"
    sites.wrote("INSERT INTO patients (patient_id, site_id) VALUES ($1, $2)"
                " ON CONFLICT (patient_id) DO UPDATE SET site_id = $2", (PATIENT, "south"),
                PATIENT)
    assert sites.site(PATIENT) is UNKNOWN


def test_a_write_it_cannot_follow_is_read_again() -> None:
    sites = SiteMap("family_circles")
    sites.wrote(OPEN, (PATIENT, "north", None, 18, None), PATIENT)
    sites.wrote(OPEN, (OTHER, "north", None, 18, None), OTHER)
    sites.wrote("UPDATE family_circles SET site_id = lower($2) WHERE patient_id = $1",
                (PATIENT, "South"), PATIENT)
    assert sites.site(PATIENT) is UNKNOWN and sites.site(OTHER) == "north"
    sites.learned(PATIENT, "south")
    assert sites.site(PATIENT) == "south"
    sites.wrote("SELECT site_id FROM family_circles WHERE patient_id = $1", (OTHER,), OTHER)
    assert sites.site(OTHER) == "north"  # a read changes nothing
    sites.wrote("UPDATE family_circles SET site_id = $1 WHERE site_id = $2", ("x", "north"),
                None)  # a site's write: every patient's row may have moved
    assert sites.site(PATIENT) is UNKNOWN and sites.site(OTHER) is UNKNOWN
    assert sites.site(str(uuid.uuid4())) is UNKNOWN


def test_a_run_is_cut_where_its_key_repeats() -> None:
    rows: list[tuple[object, ...]] = [("a", 1), ("B", 2), ("b", 3), ("c", 4), ("a", 5)]
    assert _distinct(rows, (0,)) == [[("a", 1), ("B", 2)], [("b", 3), ("c", 4), ("a", 5)]]
    assert _distinct(rows, None) == [rows]


async def test_an_upsert_of_a_row_another_patient_upserted_keeps_its_place() -> None:
    """A row of several patients (family's group sessions, keyed by the session alone
    before its migration 007): the last patient's upsert wins, so runs may not move it
    before another's."""
    deferred = HeldWrites(cast(Connection, None))
    group, other = ("g-mon-12-07", "p", "north"), ("g-tue-12-08", "p", "north")
    for patient, session in (("ada", group), ("ada", other), ("bo", other), ("bo", group),
                             ("cy", group)):
        deferred.key = patient
        await deferred.execute(SCHEDULED, session[0], patient, "north", "group", None, 180,
                               False)
    held = deferred._held
    # after a barrier, what came before it goes first anyway
    assert [key for _, _, key in held] == ["ada", "ada", None, "bo", None]
    assert [args[:2] for _, rows in runs(held) for args in rows] == [
        (group[0], "ada"), (other[0], "ada"), (other[0], "bo"), (group[0], "bo"),
        (group[0], "cy")]


async def test_an_upsert_keyed_by_its_own_patient_is_not_followed_and_another_s_is_a_barrier(
) -> None:
    """A conflict key with ``patient_id``: the patient's own row is no other patient's
    (nothing to follow, the common case); a write of another patient's row is a barrier,
    since that patient's own upserts were not followed."""
    keyed = SCHEDULED.replace("ON CONFLICT (session_id)", "ON CONFLICT (patient_id, session_id)")
    deferred = HeldWrites(cast(Connection, None))
    for writer, patient in (("ada", "ada"), ("bo", "BO"), ("cy", "ada"), ("ada", "ada")):
        deferred.key = writer
        await deferred.execute(keyed, "s-1", patient, "north", "group", None, 180, False)
    assert [key for _, _, key in deferred._held] == ["ada", "bo", None, "ada"]
    assert deferred._upserted == {}

"""A rebuild from events gives back the live tables, row for row, on the running system.

After the traffic of this session's journeys (and this test's own family and plans
traffic),
each service that declares its own projection is rebuilt: first compared only,
then swapped in while it keeps running. Both times every derived table must be
identical to what the service built live (only sequence-numbered ids are left
out of the comparison, see ``iopnet.rebuild.compared_columns``: notifications'
``delivery_log.id``), and the rebuild must not have appended, published or
consumed anything.
"""

from __future__ import annotations

import contextlib

import pytest

from iopctl.stack import ROLES, Stack, spec_of
from iopnet.db import connect
from iopnet.rebuild import Outcome, rebuild
from iopnet.topics import SERVICES
from tests.conftest import eventually
from tests.e2e.conftest import Site
from tests.e2e.journeys import admit, grant_consent, link_support_person, ok, revoke_consent
from tests.e2e.test_family import circle_opened, grant, link
from tests.e2e.test_plans import LESS_GROUP, drafted_plan, revise, suggestions_once
from tests.fixtures.dates import site_today

pytestmark = pytest.mark.e2e

BOOKKEEPING = ("events", "event_streams", "outbox", "applied_events", "dead_letters",
               "data_keys", "consumer_offsets")


async def family_traffic(site: Site) -> None:
    """Circles, support persons, consents granted and revoked, a family session."""
    api = site.api
    for n in range(3):
        patient_id = await admit(api)
        await circle_opened(api, patient_id)
        person = await link(api, patient_id)
        await grant(api, patient_id, person, "schedule")
        consent = await grant(api, patient_id, person, "progress_summaries")
        if n == 1:
            answer = await api.post(
                "family", f"/v1/patients/{patient_id}/support-persons/{person}/consents/"
                f"{consent['consent_id']}/revoke")
            assert answer.status_code == 200, answer.text
        held = await api.post("family", f"/v1/patients/{patient_id}/family-sessions", json={
            "kind": "family_therapy", "held_on": "2026-01-05", "clinician_id": "clin-7",
            "attendance": [{"support_person_id": person, "attended": n != 2}]})
        assert held.status_code == 201, held.text


async def plans_traffic(site: Site) -> None:
    """A plan drafted, revised with a note, family therapy suggested on a consent and
    accepted, withdrawn with the consent, the stay continued, a step-down overriding the
    criteria: each of plans' tables written from its own events and consumed ones."""
    api = site.api
    patient_id = await admit(api)
    await drafted_plan(api, patient_id)
    ok(await revise(api, patient_id, LESS_GROUP, '"1"'))
    parent = await link_support_person(api, patient_id, "parent")
    participation = await grant_consent(api, patient_id, parent, "family_participation")
    [suggestion] = await suggestions_once(api, patient_id, 1)
    ok(await api.post("plans", f"/v1/patients/{patient_id}/plan/suggestions/"
                      f"{suggestion['suggestion_id']}/accept",
                      json={"clinician_id": "clin-7", "reason": "family conflict at home"}))
    await revoke_consent(api, patient_id, parent, participation)

    async def withdrawn() -> bool:
        plan = await api.get("plans", f"/v1/patients/{patient_id}/plan")
        return bool(plan.headers["etag"] == '"4"')

    await eventually(withdrawn, timeout=20)
    ok(await api.post("plans", f"/v1/patients/{patient_id}/continued-stays", json={
        "weeks": 2, "clinician_id": "clin-7", "reason": "still severe after six weeks"}))
    ok(await api.post("plans", f"/v1/patients/{patient_id}/step-down", json={
        "clinician_id": "clin-7", "effective_on": site_today().isoformat(),
        "follow_up_within_days": 7, "aftercare": ["weekly_outpatient_therapy"],
        "override_reason": "moving abroad; outpatient therapist arranged there"}))


async def bookkeeping(dsn: str) -> dict[str, int]:
    conn = await connect(dsn)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in BOOKKEEPING}
    finally:
        await conn.close()


REBUILT = [s for s in SERVICES if spec_of(s).project_own is not None]


@pytest.mark.parametrize("service", REBUILT)
async def test_a_rebuild_gives_back_the_live_tables(stack: Stack, north: Site,
                                                    service: str) -> None:
    if service == "family":
        await family_traffic(north)
    if service == "plans":
        await plans_traffic(north)
    dsn = stack.migration_url[service]  # a rebuild makes a schema: the owner's to run
    sources = spec_of(service).rebuild_sources()

    checks: list[Outcome] = []

    async def identical() -> bool:
        checks.append(await rebuild(dsn, sources, check_only=True))
        return all(d == (0, 0) for d in checks[-1].differences.values())

    # Live traffic may still be arriving; each comparison is taken with writers held.
    with contextlib.suppress(TimeoutError):
        await eventually(identical, timeout=30)
    checked = checks[-1]
    assert checked.differences == {t: (0, 0) for t in sources.tables}
    assert checked.swapped == []
    assert checked.progress.unreplayable == 0

    # Swapped in with the service stopped, so that whatever is appended, published or
    # consumed meanwhile could only be the rebuild's (the checks above ran live).
    for role in ROLES:
        stack.pause(service, role)
    try:
        before = await bookkeeping(dsn)
        swapped = await rebuild(dsn, sources)
        assert await bookkeeping(dsn) == before
    finally:
        for role in ROLES:
            stack.resume(service, role)
    assert swapped.differences == {t: (0, 0) for t in sources.tables}
    assert sorted(swapped.swapped) == sorted(sources.tables)
    assert (await rebuild(dsn, sources, check_only=True)).differences == swapped.differences
    await stack.wait_ready()

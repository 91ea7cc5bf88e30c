"""Who owns what in the published copy, end to end through the roster API, on SQLite and PostgreSQL.

The integration owns name, external identifier and branch; fields edited in
care planning (contact details, address, notes, care-plan content) are never
overwritten by a republish. A branch is matched by exact name; no second branch
of the same name is created.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy import update as sql_update

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config
from carehub.publishing.tables import (
    PublishedBranch,
    PublishedCarePlan,
    PublishedClient,
    PublishedVisit,
    PublishedWorker,
)
from carehub.tenancy import service as tenancy
from tests.conftest import World
from tests.publishing.support import monitor, published, put, raw, revisions, roster, update, visit


def worker_record(branch: str) -> dict[str, Any]:
    return {
        "id": f"W-{branch}",
        "version": 1,
        "branch_id": branch,
        "first_name": "Wren",
        "last_name": branch,
        "status": "active",
        "mobile_enabled": True,
    }


def test_rule_republish_never_overwrites_care_planning_fields(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "branches", {"id": "B2", "version": 1, "name": "Bath"})
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"))

    # Care planning edits its own fields.
    raw(db, sql_update(PublishedClient).values(phone="0117 496 0000", address="1 High St", notes="Key safe 1234"))
    raw(db, sql_update(PublishedWorker).values(phone="07700 900000", email="wren@example.org"))
    raw(db, sql_update(PublishedVisit).values(notes="Use the side door"))
    raw(db, sql_update(PublishedCarePlan).values(content="Prefers tea, no sugar"))

    # The roster changes what the integration owns: names, branch, visit times, care-plan description.
    update(api, "clients", "C1", first_name="Adah", branch_id="B2")
    update(api, "workers", "W1", last_name="Renamed", branch_id="B2")
    moved = visit("x", days=2)
    update(api, "visits", "V1", start=moved["start"], end=moved["end"])
    update(api, "plan-visits", "P1", visit_type_description="Personal care and meds")
    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0

    client = published(db, "client", "C1")
    assert (client.first_name, client.phone, client.address, client.notes) == (
        "Adah",
        "0117 496 0000",
        "1 High St",
        "Key safe 1234",
    )
    worker = published(db, "worker", "W1")
    assert (worker.last_name, worker.phone, worker.email) == ("Renamed", "07700 900000", "wren@example.org")
    with db.read() as session:
        bath = session.scalar(select(PublishedBranch.id).where(PublishedBranch.name == "Bath"))
    assert client.branch_id == worker.branch_id == bath
    pub_visit = published(db, "visit", "V1")
    assert (pub_visit.start_at.isoformat(), pub_visit.notes) == (moved["start"], "Use the side door")
    plan = published(db, "care_plan", "P1")
    assert (plan.description, plan.content) == ("Personal care and meds", "Prefers tea, no sugar")

    # A new service requirement starts a new care plan; the ended one keeps its content untouched.
    update(api, "plan-visits", "P1", start_time="11:00")
    assert revisions(db, "P1") == [(1, "ended"), (2, "active")]
    with db.read() as session:
        ended = session.scalars(select(PublishedCarePlan).where(PublishedCarePlan.revision == 1)).one()
    assert (ended.content, ended.ended_at is not None) == ("Prefers tea, no sugar", True)


def test_rule_branch_matched_by_exact_name_never_duplicated(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(
        api,
        "branches",
        {"id": "B2", "version": 1, "name": "Bristol"},  # the same name as B1
        {"id": "B3", "version": 1, "name": "bristol"},  # another name: case matters
    )
    put(api, "workers", *[worker_record(b) for b in ("B1", "B2", "B3")])
    monitor(db, world.env.id, "K1")
    put(api, "visits", *[visit(f"V-{b}", workers=(f"W-{b}",)) for b in ("B1", "B2", "B3")])
    with db.read() as session:
        names = session.scalars(select(PublishedBranch.name).order_by(PublishedBranch.name)).all()
    assert sorted(names) == ["Bristol", "bristol"]
    b1, b2, b3 = (published(db, "worker", f"W-{b}").branch_id for b in ("B1", "B2", "B3"))
    assert b1 == b2 != b3
    assert published(db, "client", "C1").branch_id == b1

    # Another environment of the same tenant, with its own branch of that name, never reuses the primary's:
    # its branches are published under its prefix ("T - Bristol", the default convention), one for its own.
    other = tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="Test", prefix="T")
    _, token = auth.do_create_token(db, SYSTEM, tenant_id=world.tenant.id, environment_id=other.id, name="test")
    headers = {"Authorization": f"Bearer {token}"}
    for plural, record in (
        ("branches", {"id": "X1", "version": 1, "name": "Bristol"}),
        ("contracts", {"id": "K1", "version": 1, "name": "Council", "funder": "council"}),
        ("clients", {"id": "C1", "version": 1, "branch_id": "X1", "first_name": "Bo", "last_name": "Test"}),
        ("workers", {**worker_record("X1"), "id": "W1"}),
        ("visits", visit("V1")),
    ):
        r = api.post(f"/api/v1/{plural}/batch", json={"records": [record]}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == 0, r.text
    monitor(db, other.id, "K1")
    with db.read() as session:
        assert session.scalars(select(PublishedBranch.id).where(PublishedBranch.name == "Bristol")).all() == [b1]
        theirs = session.scalars(select(PublishedBranch).where(PublishedBranch.name == "T - Bristol")).all()
        assert [(b.environment_id, b.id != b1) for b in theirs] == [(other.id, True)]
        assert (
            session.scalar(select(PublishedWorker.branch_id).where(PublishedWorker.environment_id == other.id))
            == theirs[0].id
        )

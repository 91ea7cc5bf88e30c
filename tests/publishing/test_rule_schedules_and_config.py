"""Publish windows, monitored contracts, propagation, events, reconcile and preview, on SQLite and PostgreSQL.

The publish window is per group: publishing a schedule extends it up to 14
days ahead; only visits inside it publish. Monitored contracts are tenant
configuration changed by an administrator. A roster change publishes at once,
in its own transaction, and every published change is an outbox event written
with it. A reconcile repairs drift and reports it; running again with nothing
changed emits nothing; a preview says what would change and stores nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, insert, select
from sqlalchemy import update as sql_update

from carehub.platform import outbox
from carehub.platform.audit import AuditEntry
from carehub.platform.auth.actor import SYSTEM, Actor, Role
from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput, PermissionDenied
from carehub.publishing.service import config, propagate
from carehub.publishing.tables import (
    MonitoredContract,
    PublishedCarePlan,
    PublishedClient,
    PublishedVisit,
    PublishedWorker,
    PublishRun,
    PublishSchedule,
    PublishSettings,
)
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import changes
from tests.conftest import World
from tests.publishing.support import (
    events,
    local,
    london_today,
    monitor,
    published,
    put,
    raw,
    roster,
    roster_pk,
    states,
    visit,
)


def two_groups(api: TestClient) -> None:
    """The standard roster plus group G2 with client C3."""
    roster(api)
    put(api, "groups", {"id": "G2", "version": 1, "name": "Evening run", "branch_id": "B1"})
    put(
        api,
        "clients",
        {"id": "C3", "version": 1, "branch_id": "B1", "group_id": "G2", "first_name": "Cy", "last_name": "Three"},
    )


def count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_rule_publish_window_per_group_at_most_14_days(api: TestClient, db: Database, world: World) -> None:
    two_groups(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V-G1", client="C1", days=12), visit("V-G2", client="C3", days=12))
    assert states(db, "visit") == {}  # 12 days ahead: outside the default 7-day window
    today = london_today()
    before = events(db)

    too_far = today + timedelta(days=15)
    with pytest.raises(InvalidInput) as refused:
        config.do_publish_schedule(db, SYSTEM, world.env.id, ["G1"], too_far)
    (error,) = refused.value.errors
    assert (error.field, error.value) == ("publish_until", too_far.isoformat())
    latest = (today + timedelta(days=14)).isoformat()
    assert f"expected a date from {today.isoformat()} to {latest}" in error.reason
    assert "more than 14 days ahead" in error.reason
    # Nothing stored: no schedule, no audit row, no event, nothing published.
    assert count(db, PublishSchedule) == 0
    assert count(db, AuditEntry, AuditEntry.action == "publish_schedule") == 0
    assert events(db) == before
    assert states(db, "visit") == {}

    with pytest.raises(InvalidInput) as past:
        config.do_publish_schedule(db, SYSTEM, world.env.id, ["G1"], today - timedelta(days=1))
    assert past.value.errors[0].field == "publish_until"

    # Fourteen days is allowed, and only the chosen group's window grows.
    result = config.do_publish_schedule(db, SYSTEM, world.env.id, ["G1"], today + timedelta(days=14))
    assert states(db, "visit") == {"V-G1": "active"}
    assert result.counts["visit"] == {"published": 1}
    rows = {s.group_id: s for s in config.list_schedules(db, world.env.id)}
    assert rows["G1"].publish_until == today + timedelta(days=14)
    assert rows["G2"].publish_until is None
    assert rows["G2"].last_day == today + timedelta(days=7)
    assert count(db, AuditEntry, AuditEntry.action == "publish_schedule") == 1


def test_rule_only_visits_inside_the_window_publish(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    # Times in the tenant's zone (Europe/London): the window ends at the end of the publish date there.
    put(
        api,
        "visits",
        visit("V-yesterday", start=local(-1, 23, 30), end=local(0, 0, 30)),
        visit("V-today", start=local(0, 0, 30), end=local(0, 1, 30)),
        visit("V-last", start=local(10, 23, 30), end=local(11, 0, 30)),
        visit("V-after", start=local(11, 0, 30), end=local(11, 1, 30)),
    )
    assert states(db, "visit") == {"V-today": "active"}
    config.do_publish_schedule(db, SYSTEM, world.env.id, ["G1"], london_today() + timedelta(days=10))
    assert states(db, "visit") == {"V-today": "active", "V-last": "active"}


def test_rule_monitored_contracts_are_tenant_configuration_changed_by_admin(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1"))
    coordinator = Actor("user", 7, "coordinator", tenant_id=world.tenant.id, role=Role.COORDINATOR)
    with pytest.raises(PermissionDenied) as refused:
        config.do_set_monitored(db, coordinator, world.env.id, ["K1"], monitored=True)
    assert (refused.value.status, refused.value.code) == (403, "permission_denied")
    with pytest.raises(PermissionDenied):
        config.do_set_publish_settings(db, coordinator, world.env.id, default_days_ahead=3)
    assert count(db, MonitoredContract) == 0
    assert count(db, AuditEntry, AuditEntry.action.in_(("monitor", "unmonitor", "publish_settings"))) == 0
    assert states(db, "visit") == {}

    admin = Actor("user", 1, "admin", tenant_id=world.tenant.id, role=Role.ADMIN)
    config.do_set_monitored(db, admin, world.env.id, ["K1"], monitored=True)
    assert states(db, "visit") == {"V1": "active"}
    ticked = {c.id: c for c in config.list_contracts(db, world.env.id)}
    assert (ticked["K1"].monitored, ticked["K1"].ticked_by, ticked["K2"].monitored) == (True, "admin", False)
    config.do_set_monitored(db, admin, world.env.id, ["K1"], monitored=False)
    with db.read() as session:
        trail = session.execute(
            select(AuditEntry.actor_label, AuditEntry.action, AuditEntry.external_id, AuditEntry.changes)
            .where(AuditEntry.entity == "contract", AuditEntry.action != "create")
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(t) for t in trail] == [
        ("admin", "monitor", "K1", {"monitored": [False, True]}),
        ("admin", "unmonitor", "K1", {"monitored": [True, False]}),
    ]

    with pytest.raises(InvalidInput) as unknown:
        config.do_set_monitored(db, admin, world.env.id, ["K1", "NOPE"], monitored=True)
    assert [(e.field, e.value) for e in unknown.value.errors] == [("contract_ids", "NOPE")]
    assert count(db, MonitoredContract) == 0


def test_rule_roster_change_propagates_at_once(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    r = api.put("/api/v1/visits/V1", json=visit("V1"))
    assert r.status_code == 201, r.text
    # Visible as soon as the roster call returns: no batch cycle to wait for.
    assert states(db, "visit") == {"V1": "active"}
    assert states(db, "worker") == {"W1": "active"}
    assert states(db, "care_plan") == {}
    with db.read() as session:
        triggers = session.scalars(select(PublishRun.trigger).order_by(PublishRun.id)).all()
    assert triggers[-1] == "change"
    topics = [t for t, _ in events(db, "")]
    assert topics.index("roster.visit.created") < topics.index("publishing.visit.published")


def test_rule_every_published_change_is_an_event_in_the_same_transaction(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    put(api, "visits", visit("V1", plan_visit_id="P1"), visit("V2", client="C2"))
    result = monitor(db, world.env.id, "K1")
    published_events = events(db)
    assert len(published_events) == result.changes == 6
    assert sorted(t for t, _ in published_events) == sorted(
        [
            "publishing.visit.published",
            "publishing.visit.published",
            "publishing.care_plan.published",
            "publishing.client.published",
            "publishing.client.published",
            "publishing.worker.published",
        ]
    )
    for topic, payload in published_events:
        kind = topic.split(".")[1]
        assert published(db, kind, payload["id"]).state == payload["state"] == "active"

    # A roster transaction that fails after publishing ran leaves neither the change nor its events.
    def fail(session: Any, changed: outbox.Touched) -> None:
        raise RuntimeError("the roster transaction fails after publishing")

    before_all = events(db, "")
    outbox.listen("roster.", fail)
    try:
        assert outbox._listeners["roster."].index(propagate.on_roster_change) < outbox._listeners["roster."].index(fail)
        with pytest.raises(RuntimeError):
            changes.do_upsert_record(db, SYSTEM, world.env.id, RecordKind.VISIT, visit("V3", client="C2"))
        with pytest.raises(RuntimeError):
            changes.do_cancel_visit(db, SYSTEM, world.env.id, "V1")
    finally:
        outbox._listeners["roster."].remove(fail)
    assert events(db, "") == before_all
    assert states(db, "visit") == {"V1": "active", "V2": "active"}
    assert count(db, PublishedVisit, PublishedVisit.external_id == "V3") == 0


def test_rule_reconcile_repairs_drift_and_reports_it(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"), visit("V2", client="C2"), visit("V3", contract="K2"))
    assert states(db, "visit") == {"V1": "active", "V2": "active"}
    runs_before = count(db, PublishRun)

    # Drift: rows changed behind the integration's back, one lost, one that should not be there.
    raw(db, sql_update(PublishedVisit).where(PublishedVisit.external_id == "V1").values(state="deactivated"))
    raw(db, sql_update(PublishedWorker).where(PublishedWorker.external_id == "W1").values(first_name="Tampered"))
    raw(db, sql_update(PublishedCarePlan).values(description="Tampered"))
    raw(db, sql_delete(PublishedClient).where(PublishedClient.external_id == "C2"))
    with db.read() as session:
        template = session.execute(select(PublishedVisit.__table__).where(PublishedVisit.external_id == "V2")).one()
    row = {**template._asdict(), "external_id": "V3", "visit_id": roster_pk(db, "visit", "V3")}
    del row["id"]
    raw(db, insert(PublishedVisit).values(row))

    result = config.do_reconcile(db, SYSTEM, world.env.id)
    assert result.changes == 5
    assert {k: dict(v) for k, v in result.counts.items()} == {
        "visit": {"published": 1, "deactivated": 1},
        "care_plan": {"updated": 1},
        "client": {"published": 1},
        "worker": {"updated": 1},
    }
    assert states(db, "visit") == {"V1": "active", "V2": "active", "V3": "deactivated"}
    assert states(db, "client") == {"C1": "active", "C2": "active"}
    assert published(db, "worker", "W1").first_name == "Wren"
    assert published(db, "care_plan", "P1").description == "Personal care"
    with db.read() as session:
        assert session.scalar(select(PublishSettings.last_reconcile_at)) is not None
        trail = session.scalars(select(AuditEntry.changes).where(AuditEntry.action == "reconcile")).all()
    assert trail == [{"changes": [None, 5]}]
    assert count(db, PublishRun) == runs_before + 1
    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0


def test_rule_rerunning_publish_with_no_roster_change_emits_nothing(
    api: TestClient, db: Database, world: World
) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"), visit("V2", client="C2"))
    before = events(db)
    assert before

    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0
    assert config.do_set_monitored(db, SYSTEM, world.env.id, ["K1"], monitored=True).changes == 0
    assert put(api, "visits", visit("V1", plan_visit_id="P1"))["unchanged"] == 1
    # The same content at a newer version is a roster update, but nothing publishable changed.
    assert put(api, "visits", visit("V1", plan_visit_id="P1", version=2))["results"][0]["outcome"] in {
        "updated",
        "unchanged",
    }
    put(api, "clients", {**_client("C1"), "version": 2})
    assert config.do_reconcile(db, SYSTEM, world.env.id).changes == 0
    assert events(db) == before


def _client(n: str) -> dict[str, Any]:
    return {
        "id": n,
        "version": 1,
        "branch_id": "B1",
        "group_id": "G1",
        "first_name": "Ada",
        "last_name": f"Client{n[1:]}",
        "status": "active",
    }


def test_rule_preview_changes_nothing(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    put(api, "visits", visit("V1"), visit("V-later", days=10))
    preview = config.do_set_monitored(db, SYSTEM, world.env.id, ["K1"], monitored=True, preview=True)
    assert preview.counts["visit"] == {"published": 1}
    assert preview.changes == 3  # V1, its client C1 and its worker W1
    assert count(db, MonitoredContract) == 0
    assert states(db, "visit") == {}
    assert events(db) == []
    assert count(db, PublishRun) == 0

    monitor(db, world.env.id, "K1")
    before = events(db)
    schedule = config.do_publish_schedule(
        db, SYSTEM, world.env.id, ["G1"], london_today() + timedelta(days=12), preview=True
    )
    assert schedule.counts["visit"] == {"published": 1}
    assert count(db, PublishSchedule) == 0
    assert states(db, "visit") == {"V1": "active"}

    raw(db, sql_update(PublishedVisit).values(state="deactivated"))
    runs_before = count(db, PublishRun)
    reconcile = config.do_reconcile(db, SYSTEM, world.env.id, preview=True)
    assert reconcile.counts["visit"] == {"published": 1}
    assert states(db, "visit") == {"V1": "deactivated"}
    assert events(db) == before
    assert count(db, PublishRun) == runs_before
    with db.read() as session:
        assert session.scalar(select(PublishSettings.last_reconcile_at)) is None
    assert count(db, AuditEntry, AuditEntry.action.in_(("reconcile", "publish_schedule", "monitor"))) == 1

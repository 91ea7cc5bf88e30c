"""The audit trail: one row per change with who, what, when and each field's before and after.

An outbox event is written in the same transaction: when the transaction
fails, neither the change nor its audit row nor its event exists. The trail is
readable per record through ``GET /api/v1/{plural}/{id}/history``. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from carehub import bootstrap
from carehub.app import create_app
from carehub.platform import audit, outbox
from carehub.platform.audit import AuditEntry
from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import Actor
from carehub.platform.db import Database
from carehub.platform.outbox import OutboxEvent
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.service import changes, queries
from carehub.roster.service.upsert import do_upsert_batch
from tests.conftest import PASSWORD, World
from tests.roster.test_api_basics import audit_rows, batch, outbox_rows, seed_people, visit_rec

ANY_TIME = object()  # an ISO time close to now, in UTC


@dataclass(frozen=True)
class ChangeKind:
    """One kind of change to visit V1, starting from: V1 created, W1 and W2 exist, nothing allocated."""

    name: str
    setup: Callable[[Database, int, Actor], object]
    act: Callable[[Database, int, Actor], object]
    action: str
    topic: str
    changes: dict[str, list[Any]]


def _nothing(_db: Database, _env: int, _actor: Actor) -> None:
    return None


def _update(db: Database, env: int, actor: Actor) -> object:
    newer = visit_rec(1, version=2, end="2026-03-29T09:00:00+01:00", carers_needed=3, worker_ids=["W1"])
    return changes.do_upsert_record(db, actor, env, RecordKind.VISIT, newer)


def _create(db: Database, env: int, actor: Actor) -> object:
    return changes.do_upsert_record(db, actor, env, RecordKind.VISIT, visit_rec(2, plan_visit_id=None))


CHANGE_KINDS = [
    ChangeKind(
        "create",
        _nothing,
        _create,
        "create",
        "roster.visit.created",
        {
            "client_id": [None, "C1"],
            "contract_id": [None, "K1"],
            "kind": [None, "planned"],
            "start": [None, "2026-03-29T07:00:00+00:00"],
            "end": [None, "2026-03-29T07:30:00+00:00"],
            "carers_needed": [None, 1],
            "version": [None, 1],
            "worker_ids": [None, []],
        },
    ),
    ChangeKind(
        "update",
        _nothing,
        _update,
        "update",
        "roster.visit.updated",
        {
            "end": ["2026-03-29T07:30:00+00:00", "2026-03-29T08:00:00+00:00"],
            "carers_needed": [2, 3],
            "version": [1, 2],
            "worker_ids": [[], ["W1"]],
        },
    ),
    ChangeKind(
        "delete",
        _nothing,
        lambda db, env, actor: changes.do_delete_record(db, actor, env, RecordKind.VISIT, "V1", 3),
        "delete",
        "roster.visit.deleted",
        {"deleted": [False, True], "version": [1, 3]},
    ),
    ChangeKind(
        "allocate",
        lambda db, env, actor: changes.do_allocate_worker(db, actor, env, "V1", "W2"),
        lambda db, env, actor: changes.do_allocate_worker(db, actor, env, "V1", "W1"),
        "allocate",
        "roster.visit.allocated",
        {"worker_ids": [["W2"], ["W1", "W2"]]},
    ),
    ChangeKind(
        "deallocate",
        lambda db, env, actor: changes.do_allocate_worker(db, actor, env, "V1", "W1"),
        lambda db, env, actor: changes.do_deallocate_worker(db, actor, env, "V1", "W1"),
        "deallocate",
        "roster.visit.deallocated",
        {"worker_ids": [["W1"], []]},
    ),
    ChangeKind(
        "confirm",
        _nothing,
        lambda db, env, actor: changes.do_confirm_visit(db, actor, env, "V1"),
        "confirm",
        "roster.visit.confirmed",
        {"confirmed_at": [None, ANY_TIME]},
    ),
    ChangeKind(
        "cancel",
        _nothing,
        lambda db, env, actor: changes.do_cancel_visit(db, actor, env, "V1", "client in hospital"),
        "cancel",
        "roster.visit.cancelled",
        {
            "status": ["scheduled", "cancelled"],
            "cancelled_at": [None, ANY_TIME],
            "cancel_reason": [None, "client in hospital"],
        },
    ),
]
CHANGE_IDS = [c.name for c in CHANGE_KINDS]


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            session.scalar(select(func.count()).select_from(OutboxEvent)) or 0,
        )


def _assert_changes(actual: dict[str, list[Any]], expected: dict[str, list[Any]]) -> None:
    assert set(actual) == set(expected), actual
    for field, (before, after) in expected.items():
        if after is ANY_TIME:
            assert actual[field][0] == before
            at = datetime.fromisoformat(actual[field][1])
            assert at.utcoffset() == timedelta(0)
            assert abs(datetime.now(UTC) - at) < timedelta(minutes=5)
        else:
            assert actual[field] == [before, after], field


@pytest.fixture
def visit_world(api: TestClient, world: World) -> World:
    seed_people(api, workers=2)
    batch(api, "visits", [visit_rec(1, carers_needed=2)])
    return world


def _visit_id(change: ChangeKind) -> str:
    return "V2" if change.name == "create" else "V1"


@pytest.mark.parametrize("change", CHANGE_KINDS, ids=CHANGE_IDS)
def test_every_change_leaves_exactly_one_audit_row_and_one_event(
    db: Database, visit_world: World, change: ChangeKind
) -> None:
    actor = auth.actor_for_token(db, visit_world.token)
    env = visit_world.env.id
    change.setup(db, env, actor)
    audit_before, events_before = _counts(db)
    change.act(db, env, actor)
    assert _counts(db) == (audit_before + 1, events_before + 1)
    ext = _visit_id(change)
    row = audit_rows(db, "visit", ext)[-1]
    assert row.action == change.action
    assert (row.actor_kind, row.actor_id, row.actor_label) == ("token", actor.id, actor.label)
    assert row.actor_label.startswith("token:chk_")
    assert row.environment_id == env
    assert row.occurred_at.utcoffset() == timedelta(0)
    history_changes = {queries._FIELD_NAMES.get(k, k): v for k, v in row.changes.items()}
    _assert_changes(history_changes, change.changes)
    event = outbox_rows(db, "visit", ext)[-1]
    assert event.topic == change.topic
    assert (event.entity_id, event.environment_id) == (row.entity_id, env)
    assert set(event.payload["changed"]) == set(row.changes)
    # Doing it again changes nothing and writes nothing.
    change.act(db, env, actor)
    assert _counts(db) == (audit_before + 1, events_before + 1)


@pytest.mark.parametrize("change", CHANGE_KINDS, ids=CHANGE_IDS)
@pytest.mark.parametrize("failing", ["outbox", "audit"])
def test_when_the_transaction_fails_neither_change_nor_audit_nor_event_exists(
    db: Database, visit_world: World, change: ChangeKind, failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = auth.actor_for_token(db, visit_world.token)
    env = visit_world.env.id
    change.setup(db, env, actor)
    counts = _counts(db)
    ext = _visit_id(change)
    before = queries.get_record(db, env, RecordKind.VISIT, "V1")

    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("the database went away")

    if failing == "outbox":
        monkeypatch.setattr(outbox, "emit_many", broken)
    else:
        monkeypatch.setattr(audit, "record_many", broken)
    with pytest.raises(RuntimeError, match="went away"):
        change.act(db, env, actor)
    monkeypatch.undo()
    assert _counts(db) == counts
    assert queries.get_record(db, env, RecordKind.VISIT, "V1") == before
    if ext == "V2":
        assert queries.list_records(db, env, RecordKind.VISIT, q="V2").total == 0


def test_a_failed_batch_stores_none_of_its_records(
    db: Database, visit_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    actor = auth.actor_for_token(db, visit_world.token)
    counts = _counts(db)

    def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(outbox, "emit_many", broken)
    with pytest.raises(RuntimeError):
        do_upsert_batch(
            db, actor, visit_world.env.id, RecordKind.VISIT, [visit_rec(i) for i in range(2, 12)], max_records=5000
        )
    monkeypatch.undo()
    assert _counts(db) == counts
    assert queries.list_records(db, visit_world.env.id, RecordKind.VISIT).total == 1


def test_history_api_answers_who_what_when_and_before_after_newest_first(api: TestClient, world: World) -> None:
    seed_people(api, workers=2)
    batch(api, "visits", [visit_rec(1, carers_needed=2)])
    api.post("/api/v1/visits/V1/allocations", json={"worker_id": "W1"})
    batch(api, "visits", [visit_rec(1, version=2, carers_needed=2, worker_ids=["W1"], end="2026-03-29T09:00:00+01:00")])
    api.post("/api/v1/visits/V1/confirm")
    r = api.get("/api/v1/visits/V1/history")
    assert r.status_code == 200
    body = r.json()
    assert (body["kind"], body["id"]) == ("visit", "V1")
    entries = body["entries"]
    assert [e["action"] for e in entries] == ["confirm", "update", "allocate", "create"]
    token_label = f"token:{world.token[:12]}"
    assert {(e["actor"]["kind"], e["actor"]["label"]) for e in entries} == {("token", token_label)}
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert times == sorted(times, reverse=True)
    assert entries[1]["changes"] == {
        "end": {"before": "2026-03-29T07:30:00+00:00", "after": "2026-03-29T08:00:00+00:00"},
        "version": {"before": 1, "after": 2},
    }
    assert entries[2]["changes"] == {"worker_ids": {"before": [], "after": ["W1"]}}
    assert entries[3]["changes"]["client_id"] == {"before": None, "after": "C1"}
    assert world.token not in r.text


def test_history_names_the_user_who_made_a_change(api: TestClient, db: Database, world: World) -> None:
    seed_people(api)
    batch(api, "visits", [visit_rec(1)])
    user = auth.authenticate(db, world.admin_username, PASSWORD)
    changes.do_cancel_visit(db, user, world.env.id, "V1", "family visiting")
    latest = api.get("/api/v1/visits/V1/history").json()["entries"][0]
    assert (latest["action"], latest["actor"]) == ("cancel", {"kind": "user", "label": "admin"})
    assert latest["changes"]["cancel_reason"] == {"before": None, "after": "family visiting"}


def test_history_of_a_deleted_record_is_kept_and_of_an_unknown_one_is_not_found(api: TestClient) -> None:
    seed_people(api)
    api.delete("/api/v1/clients/C1")
    assert [e["action"] for e in api.get("/api/v1/clients/C1/history").json()["entries"]] == ["delete", "create"]
    r = api.get("/api/v1/clients/NOPE/history")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("plural", ["branches", "groups", "contracts", "clients", "workers", "plan-visits", "visits"])
def test_history_exists_for_every_record_kind(api: TestClient, plural: str) -> None:
    seed_people(api)
    records = {
        "groups": {"id": "G1", "version": 1, "name": "Run"},
        "plan-visits": {
            "id": "P1",
            "version": 1,
            "client_id": "C1",
            "contract_id": "K1",
            "visit_type_code": "PC",
            "days": "MON",
            "start_time": "08:00",
            "duration_minutes": 30,
            "starts_on": "2026-03-02",
        },
        "visits": visit_rec(1),
    }
    if plural in records:
        batch(api, plural, [records[plural]])
    ext = {"branches": "B1", "contracts": "K1", "clients": "C1", "workers": "W1"}.get(plural) or str(
        records[plural]["id"]
    )
    entries = api.get(f"/api/v1/{plural}/{ext}/history").json()["entries"]
    assert [e["action"] for e in entries] == ["create"]


def test_a_signed_in_user_reads_history_but_cannot_write_without_a_token(
    container: bootstrap.Container, api: TestClient, world: World
) -> None:
    seed_people(api)
    with TestClient(create_app(container)) as browser:
        page = browser.get("/sign-in")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, page.text
        r = browser.post(
            "/sign-in",
            data={"username": world.admin_username, "password": PASSWORD, "csrf": match.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        assert [e["action"] for e in browser.get("/api/v1/clients/C1/history").json()["entries"]] == ["create"]
        # A session is enough to read, never to write: writes need a token (no cross-site request forgery).
        assert browser.post("/api/v1/clients/batch", json={"records": []}).status_code == 401
        assert browser.delete("/api/v1/clients/C1").status_code == 401
        assert browser.put("/api/v1/clients/C1", json={"version": 9}).status_code == 401


def test_history_lists_changes_and_on_request_who_viewed_the_record(
    api: TestClient, db: Database, world: World
) -> None:
    seed_people(api)
    user = auth.authenticate(db, world.admin_username, PASSWORD)
    [created] = audit_rows(db, "client", "C1")
    with db.transaction() as session:
        audit.record(session, user, audit.Change("client", created.entity_id, "view", {}, "C1", world.env.id))
    assert [e["action"] for e in api.get("/api/v1/clients/C1/history").json()["entries"]] == ["create"]
    entries = api.get("/api/v1/clients/C1/history", params={"views": "true"}).json()["entries"]
    assert (entries[0]["action"], entries[0]["actor"]["label"], entries[0]["changes"]) == ("view", "admin", {})
    assert [e["action"] for e in entries] == ["view", "create"]

"""Allocating, de-allocating, confirming and cancelling visits, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub.platform.db import Database
from tests.roster.test_api_basics import audit_rows, batch, outbox_rows, seed_people, visit_rec, worker_rec


@pytest.fixture
def roster(api: TestClient) -> TestClient:
    """Workers W1..W3; V1 single-handed, V2 a double-up; neither allocated."""
    seed_people(api, workers=3)
    batch(api, "visits", [visit_rec(1), visit_rec(2, carers_needed=2)])
    return api


def allocate(api: TestClient, visit: str, worker: str) -> tuple[int, dict[str, Any]]:
    r = api.post(f"/api/v1/visits/{visit}/allocations", json={"worker_id": worker})
    return r.status_code, r.json()


def workers_of(api: TestClient, visit: str) -> list[str]:
    workers: list[str] = api.get(f"/api/v1/visits/{visit}").json()["worker_ids"]
    return workers


def test_rule_a_double_up_takes_two_workers_and_refuses_a_third(roster: TestClient, db: Database) -> None:
    assert allocate(roster, "V2", "W1") == (
        200,
        {"index": 0, "id": "V2", "outcome": "updated", "version": 1, "errors": []},
    )
    assert allocate(roster, "V2", "W2")[0] == 200
    status, body = allocate(roster, "V2", "W3")
    assert status == 409
    err = body["error"]
    assert err["code"] == "conflict"
    assert err["errors"][0]["field"] == "worker_id"
    assert err["errors"][0]["value"] == "W3"
    assert err["errors"][0]["code"] == "visit_full"
    assert "needs 2 carer(s) and already has 2" in err["message"]
    assert workers_of(roster, "V2") == ["W1", "W2"]
    assert [a.action for a in audit_rows(db, "visit", "V2")] == ["create", "allocate", "allocate"]


def test_rule_a_single_handed_visit_refuses_a_second_worker(roster: TestClient) -> None:
    assert allocate(roster, "V1", "W1")[0] == 200
    status, body = allocate(roster, "V1", "W2")
    assert (status, body["error"]["errors"][0]["code"]) == (409, "visit_full")
    assert workers_of(roster, "V1") == ["W1"]


def test_rule_allocating_twice_changes_nothing(roster: TestClient, db: Database) -> None:
    allocate(roster, "V1", "W1")
    assert allocate(roster, "V1", "W1") == (
        200,
        {"index": 0, "id": "V1", "outcome": "unchanged", "version": 1, "errors": []},
    )
    assert workers_of(roster, "V1") == ["W1"]
    assert [a.action for a in audit_rows(db, "visit", "V1")] == ["create", "allocate"]
    assert len(outbox_rows(db, "visit", "V1")) == 2


def test_rule_allocating_twice_to_a_full_double_up_changes_nothing(roster: TestClient) -> None:
    allocate(roster, "V2", "W1")
    allocate(roster, "V2", "W2")
    assert allocate(roster, "V2", "W2")[1]["outcome"] == "unchanged"


def test_rule_a_worker_who_has_left_is_refused(roster: TestClient, db: Database) -> None:
    batch(roster, "workers", [worker_rec(3, version=2, status="left")])
    status, body = allocate(roster, "V1", "W3")
    assert status == 409
    err = body["error"]["errors"][0]
    assert (err["field"], err["value"], err["code"]) == ("worker_id", "W3", "worker_left")
    assert workers_of(roster, "V1") == []
    assert [a.action for a in audit_rows(db, "visit", "V1")] == ["create"]


def test_rule_a_cancelled_visit_cannot_be_allocated(roster: TestClient) -> None:
    roster.post("/api/v1/visits/V1/cancel", json={"reason": "client in hospital"})
    status, body = allocate(roster, "V1", "W1")
    assert (status, body["error"]["errors"][0]["code"]) == (409, "visit_cancelled")
    assert workers_of(roster, "V1") == []


def test_rule_allocating_an_unknown_worker_or_visit_is_not_found(roster: TestClient) -> None:
    status, body = allocate(roster, "V1", "W404")
    assert status == 404
    assert "worker not found" in body["error"]["message"]
    status, body = allocate(roster, "V404", "W1")
    assert status == 404
    assert "'V404'" in body["error"]["message"]


def test_rule_a_deleted_worker_or_visit_is_not_found(roster: TestClient) -> None:
    roster.delete("/api/v1/workers/W1")
    assert allocate(roster, "V1", "W1")[0] == 404
    roster.delete("/api/v1/visits/V2")
    assert allocate(roster, "V2", "W2")[0] == 404


def test_rule_deallocating_frees_the_place_and_twice_changes_nothing(roster: TestClient, db: Database) -> None:
    allocate(roster, "V1", "W1")
    r = roster.delete("/api/v1/visits/V1/allocations/W1")
    assert (r.status_code, r.json()["outcome"]) == (200, "updated")
    assert workers_of(roster, "V1") == []
    again = roster.delete("/api/v1/visits/V1/allocations/W1")
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    assert allocate(roster, "V1", "W2")[0] == 200
    assert [a.action for a in audit_rows(db, "visit", "V1")] == ["create", "allocate", "deallocate", "allocate"]


def test_rule_batch_allocation_and_api_allocation_agree(roster: TestClient) -> None:
    """Workers sent in a visit record count as allocated for the allocation rules."""
    batch(roster, "visits", [visit_rec(2, version=2, carers_needed=2, worker_ids=["W1", "W2"])])
    assert allocate(roster, "V2", "W3")[0] == 409
    assert allocate(roster, "V2", "W1")[1]["outcome"] == "unchanged"
    roster.delete("/api/v1/visits/V2/allocations/W2")
    assert workers_of(roster, "V2") == ["W1"]


def test_rule_confirming_twice_changes_nothing(roster: TestClient, db: Database) -> None:
    first = roster.post("/api/v1/visits/V1/confirm")
    assert (first.status_code, first.json()["outcome"]) == (200, "updated")
    confirmed_at = roster.get("/api/v1/visits/V1").json()["confirmed_at"]
    assert confirmed_at is not None
    again = roster.post("/api/v1/visits/V1/confirm")
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    assert roster.get("/api/v1/visits/V1").json()["confirmed_at"] == confirmed_at
    assert [a.action for a in audit_rows(db, "visit", "V1")] == ["create", "confirm"]


def test_rule_a_cancelled_visit_cannot_be_confirmed(roster: TestClient) -> None:
    roster.post("/api/v1/visits/V1/cancel")
    r = roster.post("/api/v1/visits/V1/confirm")
    assert (r.status_code, r.json()["error"]["errors"][0]["code"]) == (409, "visit_cancelled")
    assert roster.get("/api/v1/visits/V1").json()["confirmed_at"] is None


def test_rule_cancelling_twice_changes_nothing(roster: TestClient, db: Database) -> None:
    first = roster.post("/api/v1/visits/V1/cancel", json={"reason": "client in hospital"})
    assert (first.status_code, first.json()["outcome"]) == (200, "updated")
    got = roster.get("/api/v1/visits/V1").json()
    assert (got["status"], got["cancel_reason"]) == ("cancelled", "client in hospital")
    again = roster.post("/api/v1/visits/V1/cancel", json={"reason": "another reason"})
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    assert roster.get("/api/v1/visits/V1").json()["cancel_reason"] == "client in hospital"
    assert [a.action for a in audit_rows(db, "visit", "V1")] == ["create", "cancel"]


def test_rule_cancelling_needs_no_body(roster: TestClient) -> None:
    r = roster.post("/api/v1/visits/V1/cancel")
    assert (r.status_code, r.json()["outcome"]) == (200, "updated")
    assert roster.get("/api/v1/visits/V1").json()["cancel_reason"] is None


def test_rule_a_confirmed_visit_cannot_be_cancelled(roster: TestClient, db: Database) -> None:
    roster.post("/api/v1/visits/V1/confirm")
    r = roster.post("/api/v1/visits/V1/cancel", json={"reason": "too late"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["errors"][0]["code"] == "visit_confirmed"
    assert "a confirmed visit cannot be cancelled" in err["message"]
    assert roster.get("/api/v1/visits/V1").json()["status"] == "scheduled"
    assert [a.action for a in audit_rows(db, "visit", "V1")] == ["create", "confirm"]


def test_rule_visit_actions_on_an_unknown_visit_are_not_found(roster: TestClient) -> None:
    for r in (
        roster.post("/api/v1/visits/V404/confirm"),
        roster.post("/api/v1/visits/V404/cancel"),
        roster.delete("/api/v1/visits/V404/allocations/W1"),
    ):
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"

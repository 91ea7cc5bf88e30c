"""Roster rules about re-sends and versions, on SQLite and PostgreSQL.

Every send is the complete record with a version: an identical re-send changes
nothing, an older version is refused as "older than current", the same version
with other content is refused, a newer one applies, and gaps are allowed.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from carehub.platform.db import Database
from tests.roster.test_api_basics import (
    audit_rows,
    batch,
    client_rec,
    outbox_rows,
    seed,
    seed_people,
    visit_rec,
    worker_rec,
)


def test_rule_idempotent_resend_changes_nothing_and_writes_no_second_audit_or_event(
    api: TestClient, db: Database
) -> None:
    seed(api)
    first = batch(api, "clients", [client_rec(1)])
    again = batch(api, "clients", [client_rec(1)])
    assert (first["created"], again["unchanged"]) == (1, 1)
    assert again["results"][0] == {"index": 0, "id": "C1", "outcome": "unchanged", "version": 1, "errors": []}
    assert len(audit_rows(db, "client", "C1")) == 1
    assert len(outbox_rows(db, "client", "C1")) == 1
    assert api.get("/api/v1/clients/C1").json()["version"] == 1


def test_rule_idempotent_resend_of_a_single_put_answers_200_not_201(api: TestClient, db: Database) -> None:
    seed(api)
    created = api.put("/api/v1/clients/C1", json=client_rec(1))
    again = api.put("/api/v1/clients/C1", json=client_rec(1))
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.json()["outcome"] == "unchanged"
    assert len(audit_rows(db, "client", "C1")) == 1
    assert len(outbox_rows(db, "client", "C1")) == 1


def test_rule_idempotent_resend_of_a_visit_with_workers_changes_nothing(api: TestClient, db: Database) -> None:
    seed_people(api)
    rec = visit_rec(1, carers_needed=2, worker_ids=["W2", "W1"])
    assert batch(api, "visits", [rec])["created"] == 1
    # The same workers in another order are the same allocation.
    again = batch(api, "visits", [{**rec, "worker_ids": ["W1", "W2"]}])
    assert again["unchanged"] == 1, again
    assert len(audit_rows(db, "visit", "V1")) == 1
    assert len(outbox_rows(db, "visit", "V1")) == 1


def test_rule_older_than_current_is_refused_with_field_value_and_reason(api: TestClient, db: Database) -> None:
    seed(api)
    batch(api, "clients", [client_rec(1, version=3)])
    r = batch(api, "clients", [client_rec(1, version=2, last_name="Stale")])
    assert r["rejected"] == 1
    assert r["results"][0] == {
        "index": 0,
        "id": "C1",
        "outcome": "rejected",
        "version": 2,
        "errors": [
            {
                "field": "version",
                "value": 2,
                "reason": "older than current: stored version is 3",
                "code": "older_than_current",
            }
        ],
    }
    stored = api.get("/api/v1/clients/C1").json()
    assert (stored["version"], stored["last_name"]) == (3, "L1")
    assert len(audit_rows(db, "client", "C1")) == 1


def test_rule_older_than_current_on_single_put_is_422_with_the_reason(api: TestClient) -> None:
    seed(api)
    api.put("/api/v1/clients/C1", json=client_rec(1, version=5))
    r = api.put("/api/v1/clients/C1", json=client_rec(1, version=4, last_name="Stale"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_input"
    assert err["errors"] == [
        {
            "index": 0,
            "record_id": "C1",
            "field": "version",
            "value": 4,
            "reason": "older than current: stored version is 5",
            "code": "older_than_current",
        }
    ]


def test_rule_same_version_with_different_content_is_refused(api: TestClient, db: Database) -> None:
    seed(api)
    batch(api, "clients", [client_rec(1, version=2)])
    r = batch(api, "clients", [client_rec(1, version=2, last_name="Other")])
    err = r["results"][0]["errors"][0]
    assert (err["field"], err["value"], err["code"]) == ("version", 2, "version_conflict")
    assert "same version 2 with different content" in err["reason"]
    assert api.get("/api/v1/clients/C1").json()["last_name"] == "L1"
    assert len(audit_rows(db, "client", "C1")) == 1


def test_rule_newer_version_applies(api: TestClient, db: Database) -> None:
    seed(api)
    batch(api, "clients", [client_rec(1)])
    r = batch(api, "clients", [client_rec(1, version=2, last_name="Newer")])
    assert r["updated"] == 1
    stored = api.get("/api/v1/clients/C1").json()
    assert (stored["version"], stored["last_name"]) == (2, "Newer")
    assert [a.action for a in audit_rows(db, "client", "C1")] == ["create", "update"]
    assert [e.topic for e in outbox_rows(db, "client", "C1")] == ["roster.client.created", "roster.client.updated"]


def test_rule_version_gaps_are_allowed(api: TestClient) -> None:
    seed(api)
    batch(api, "clients", [client_rec(1, version=1)])
    assert batch(api, "clients", [client_rec(1, version=1000, last_name="Jump")])["updated"] == 1
    assert batch(api, "clients", [client_rec(1, version=999, last_name="Back")])["rejected"] == 1
    assert api.get("/api/v1/clients/C1").json()["version"] == 1000


def test_rule_newer_version_with_same_content_moves_the_version_on(api: TestClient, db: Database) -> None:
    """Out of order: v3 (content as v1) arrives before v2; v2 must then be older than current."""
    seed(api)
    batch(api, "clients", [client_rec(1, version=1)])
    v3 = batch(api, "clients", [client_rec(1, version=3)])
    assert v3["results"][0]["outcome"] == "updated"
    late_v2 = batch(api, "clients", [client_rec(1, version=2, last_name="Stale")])
    assert late_v2["results"][0]["errors"][0]["code"] == "older_than_current"
    stored = api.get("/api/v1/clients/C1").json()
    assert (stored["version"], stored["last_name"]) == (3, "L1")
    update = audit_rows(db, "client", "C1")[-1]
    assert update.changes == {"version": [1, 3]}


def test_rule_version_must_be_a_positive_64_bit_integer(api: TestClient) -> None:
    seed(api)
    r = batch(api, "clients", [client_rec(1, version=0), client_rec(2, version=2**63), client_rec(3, version="x")])
    assert r["rejected"] == 3
    assert [res["errors"][0]["field"] for res in r["results"]] == ["version"] * 3
    assert batch(api, "clients", [client_rec(4, version=2**63 - 1)])["created"] == 1


def test_rule_missing_version_is_refused(api: TestClient) -> None:
    seed(api)
    rec = client_rec(1)
    del rec["version"]
    err = batch(api, "clients", [rec])["results"][0]["errors"][0]
    assert (err["field"], err["value"], err["code"]) == ("version", None, "missing")


@pytest.mark.parametrize(
    ("second", "outcomes", "stored_name", "stored_version"),
    [
        (client_rec(1), ["created", "unchanged"], "L1", 1),
        (client_rec(1, last_name="Changed"), ["created", "rejected"], "L1", 1),
        (client_rec(1, version=2, last_name="Changed"), ["created", "updated"], "Changed", 2),
    ],
    ids=["identical", "same-version-other-content", "newer"],
)
def test_rule_batch_with_the_same_id_twice_applies_in_order(
    api: TestClient,
    db: Database,
    second: dict[str, object],
    outcomes: list[str],
    stored_name: str,
    stored_version: int,
) -> None:
    seed(api)
    r = batch(api, "clients", [client_rec(1), second])
    assert [x["outcome"] for x in r["results"]] == outcomes
    assert [x["index"] for x in r["results"]] == [0, 1]
    stored = api.get("/api/v1/clients/C1").json()
    assert (stored["last_name"], stored["version"]) == (stored_name, stored_version)
    applied = [o for o in outcomes if o in {"created", "updated"}]
    rows = audit_rows(db, "client", "C1")
    assert [a.action for a in rows] == [{"created": "create", "updated": "update"}[o] for o in applied]
    assert len({a.entity_id for a in rows}) == 1
    assert len(outbox_rows(db, "client", "C1")) == len(applied)
    assert api.get("/api/v1/clients").json()["total"] == 1


def test_rule_batch_with_an_older_duplicate_after_a_newer_one_refuses_the_older(api: TestClient) -> None:
    seed(api)
    r = batch(api, "clients", [client_rec(1, version=5), client_rec(1, version=4, last_name="Old")])
    assert [x["outcome"] for x in r["results"]] == ["created", "rejected"]
    assert r["results"][1]["errors"][0]["code"] == "older_than_current"


def test_rule_versions_are_per_record_kind(api: TestClient) -> None:
    """W1 and C1 have their own version sequences even with the same id text."""
    seed(api)
    batch(api, "clients", [client_rec(1, version=9, id="X1")])
    assert batch(api, "workers", [worker_rec(1, version=1, id="X1")])["created"] == 1

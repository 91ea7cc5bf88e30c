"""Every record kind through every route: PUT, batch POST, GET one, GET list, DELETE.

Deletes are soft: a deleted record stays readable by id, leaves lists, and a
newer version brings it back. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub.platform.db import Database
from tests.roster.test_api_basics import (
    audit_rows,
    batch,
    client_rec,
    outbox_rows,
    plan_visit_rec,
    seed_people,
    visit_rec,
    worker_rec,
)


@dataclass(frozen=True)
class Kind:
    """A record kind as the tests drive it."""

    plural: str
    singular: str
    make: Callable[..., dict[str, Any]]
    change: dict[str, Any]  # a content change for an update
    search_field: str  # a field besides the id that ``q`` searches


KINDS = [
    Kind(
        "branches",
        "branch",
        lambda i, version=1, **o: {"id": f"B{i}", "version": version, "name": f"Office {i}", **o},
        {"name": "Renamed office"},
        "name",
    ),
    Kind(
        "groups",
        "group",
        lambda i, version=1, **o: {"id": f"G{i}", "version": version, "name": f"Run {i}", "branch_id": "B1", **o},
        {"name": "Evening run"},
        "name",
    ),
    Kind(
        "contracts",
        "contract",
        lambda i, version=1, **o: {"id": f"K{i}", "version": version, "name": f"Deal {i}", "funder": "private", **o},
        {"funder": "other", "active": False},
        "name",
    ),
    Kind("clients", "client", client_rec, {"last_name": "Moved", "postcode": "BS1 4DJ"}, "last_name"),
    Kind("workers", "worker", worker_rec, {"status": "inactive", "mobile_enabled": False}, "last_name"),
    Kind("plan-visits", "plan_visit", plan_visit_rec, {"days": "TUE,THU", "start_time": "18:30"}, "id"),
    Kind(
        "visits",
        "visit",
        visit_rec,
        {"end": "2026-03-29T09:00:00+01:00", "carers_needed": 2, "worker_ids": ["W1", "W2"]},
        "id",
    ),
]
IDS = [k.plural for k in KINDS]


def _same(sent: dict[str, Any], got: dict[str, Any]) -> None:
    """Every field sent comes back equal (times as the same instant)."""
    for field, value in sent.items():
        if field in {"start", "end"}:
            assert datetime.fromisoformat(got[field]) == datetime.fromisoformat(value), field
        elif field == "worker_ids":
            assert got[field] == sorted(value)
        else:
            assert got[field] == value, field


@pytest.fixture
def roster(api: TestClient) -> TestClient:
    """B1, K1, C1, W1..W3 and plan visit P1 exist; kinds under test use ids from 100 up."""
    seed_people(api)
    batch(api, "plan-visits", [plan_visit_rec(1)])
    return api


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_put_creates_and_get_one_returns_the_record_as_sent(roster: TestClient, db: Database, kind: Kind) -> None:
    rec = kind.make(100)
    r = roster.put(f"/api/v1/{kind.plural}/{rec['id']}", json=rec)
    assert r.status_code == 201, r.text
    assert r.json() == {"index": 0, "id": rec["id"], "outcome": "created", "version": 1, "errors": []}
    got = roster.get(f"/api/v1/{kind.plural}/{rec['id']}").json()
    _same(rec, got)
    assert got["deleted"] is False
    assert datetime.fromisoformat(got["updated_at"]).utcoffset() is not None
    assert "_pk" not in got
    [row] = audit_rows(db, kind.singular, rec["id"])
    assert row.action == "create"
    [event] = outbox_rows(db, kind.singular, rec["id"])
    assert event.topic == f"roster.{kind.singular}.created"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_put_without_id_in_the_body_takes_the_url_id(roster: TestClient, kind: Kind) -> None:
    rec = kind.make(100)
    body = {k: v for k, v in rec.items() if k != "id"}
    assert roster.put(f"/api/v1/{kind.plural}/{rec['id']}", json=body).status_code == 201
    assert roster.get(f"/api/v1/{kind.plural}/{rec['id']}").json()["id"] == rec["id"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_put_with_a_newer_version_updates(roster: TestClient, db: Database, kind: Kind) -> None:
    rec = kind.make(100)
    roster.put(f"/api/v1/{kind.plural}/{rec['id']}", json=rec)
    newer = kind.make(100, version=2, **kind.change)
    r = roster.put(f"/api/v1/{kind.plural}/{rec['id']}", json=newer)
    assert (r.status_code, r.json()["outcome"]) == (200, "updated")
    _same(newer, roster.get(f"/api/v1/{kind.plural}/{rec['id']}").json())
    assert [a.action for a in audit_rows(db, kind.singular, rec["id"])] == ["create", "update"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_batch_creates_and_the_list_pages_through_them(roster: TestClient, kind: Kind) -> None:
    records = [kind.make(i) for i in range(101, 106)]
    assert batch(roster, kind.plural, records)["created"] == 5
    seen: list[str] = []
    for page in (1, 2, 3):
        body = roster.get(f"/api/v1/{kind.plural}?q={kind.make(1)['id'][0]}10&per_page=2&page={page}").json()
        assert (body["total"], body["page"], body["per_page"]) == (5, page, 2)
        seen += [item["id"] for item in body["items"]]
    assert sorted(seen) == sorted(r["id"] for r in records)
    assert len(seen) == 5
    beyond = roster.get(f"/api/v1/{kind.plural}?q={kind.make(1)['id'][0]}10&per_page=2&page=4").json()
    assert (beyond["items"], beyond["total"]) == ([], 5)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_list_search_finds_by_id_and_name_case_insensitively(roster: TestClient, kind: Kind) -> None:
    records = [kind.make(i) for i in range(101, 104)]
    batch(roster, kind.plural, records)
    target = records[1]
    by_id = roster.get(f"/api/v1/{kind.plural}", params={"q": target["id"].lower()}).json()
    assert [i["id"] for i in by_id["items"]] == [target["id"]]
    by_field = roster.get(f"/api/v1/{kind.plural}", params={"q": str(target[kind.search_field]).upper()}).json()
    assert target["id"] in [i["id"] for i in by_field["items"]]
    nothing = roster.get(f"/api/v1/{kind.plural}", params={"q": "no such thing"}).json()
    assert (nothing["total"], nothing["items"]) == (0, [])


def test_list_search_treats_like_wildcards_as_text(roster: TestClient) -> None:
    batch(roster, "clients", [client_rec(100, last_name="100% Smith"), client_rec(101, last_name="Jones")])
    assert [i["id"] for i in roster.get("/api/v1/clients", params={"q": "0%"}).json()["items"]] == ["C100"]
    assert roster.get("/api/v1/clients", params={"q": "_"}).json()["total"] == 0


@pytest.mark.parametrize(
    ("plural", "records", "status", "expected"),
    [
        ("clients", [client_rec(100), client_rec(101, status="inactive")], "inactive", ["C101"]),
        ("workers", [worker_rec(100, status="left"), worker_rec(101)], "left", ["W100"]),
    ],
)
def test_list_filters_by_status(
    roster: TestClient, plural: str, records: list[dict[str, Any]], status: str, expected: list[str]
) -> None:
    batch(roster, plural, records)
    assert [i["id"] for i in roster.get(f"/api/v1/{plural}", params={"status": status}).json()["items"]] == expected


def test_list_filters_visits_by_start_window_and_orders_by_start(roster: TestClient) -> None:
    batch(
        roster,
        "visits",
        [
            visit_rec(102, start="2026-03-30T08:00:00+01:00", end="2026-03-30T09:00:00+01:00"),
            visit_rec(101, start="2026-03-29T08:00:00+01:00", end="2026-03-29T09:00:00+01:00"),
            visit_rec(103, start="2026-03-31T08:00:00+01:00", end="2026-03-31T09:00:00+01:00"),
        ],
    )
    everything = roster.get("/api/v1/visits").json()
    assert [i["id"] for i in everything["items"]] == ["V101", "V102", "V103"]
    window = roster.get(
        "/api/v1/visits", params={"start_from": "2026-03-30T00:00:00+01:00", "start_to": "2026-03-31T07:00:00Z"}
    ).json()
    assert [i["id"] for i in window["items"]] == ["V102"]
    # start_to is exclusive, start_from inclusive, both compared as instants.
    edge = roster.get(
        "/api/v1/visits", params={"start_from": "2026-03-30T07:00:00Z", "start_to": "2026-03-31T07:00:00Z"}
    ).json()
    assert [i["id"] for i in edge["items"]] == ["V102"]


def test_list_refuses_a_start_filter_without_offset_and_bad_paging(roster: TestClient) -> None:
    r = roster.get("/api/v1/visits", params={"start_from": "2026-03-30T00:00:00"})
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "start_from"
    for params in ({"page": 0}, {"per_page": 0}, {"per_page": 501}, {"page": "x"}):
        assert roster.get("/api/v1/clients", params=params).status_code == 422, params


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_unknown_record_is_not_found(roster: TestClient, kind: Kind) -> None:
    for r in (roster.get(f"/api/v1/{kind.plural}/NOPE"), roster.delete(f"/api/v1/{kind.plural}/NOPE")):
        assert r.status_code == 404
        body = r.json()["error"]
        assert body["code"] == "not_found"
        assert "'NOPE'" in body["message"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_delete_is_soft_and_deleting_twice_changes_nothing(roster: TestClient, db: Database, kind: Kind) -> None:
    rec = kind.make(100)
    batch(roster, kind.plural, [rec])
    r = roster.delete(f"/api/v1/{kind.plural}/{rec['id']}")
    assert (r.status_code, r.json()["outcome"], r.json()["version"]) == (200, "deleted", 1)
    got = roster.get(f"/api/v1/{kind.plural}/{rec['id']}").json()
    assert got["deleted"] is True
    _same(rec, got)
    assert rec["id"] not in [i["id"] for i in roster.get(f"/api/v1/{kind.plural}?per_page=500").json()["items"]]
    again = roster.delete(f"/api/v1/{kind.plural}/{rec['id']}")
    assert (again.status_code, again.json()["outcome"]) == (200, "unchanged")
    assert [a.action for a in audit_rows(db, kind.singular, rec["id"])] == ["create", "delete"]
    assert [e.topic for e in outbox_rows(db, kind.singular, rec["id"])] == [
        f"roster.{kind.singular}.created",
        f"roster.{kind.singular}.deleted",
    ]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_delete_with_an_older_version_is_refused(roster: TestClient, db: Database, kind: Kind) -> None:
    rec = kind.make(100, version=4)
    batch(roster, kind.plural, [rec])
    r = roster.delete(f"/api/v1/{kind.plural}/{rec['id']}", params={"version": 3})
    assert r.status_code == 422
    err = r.json()["error"]["errors"][0]
    assert (err["field"], err["value"], err["code"]) == ("version", 3, "older_than_current")
    assert "older than current" in err["reason"]
    assert roster.get(f"/api/v1/{kind.plural}/{rec['id']}").json()["deleted"] is False
    assert [a.action for a in audit_rows(db, kind.singular, rec["id"])] == ["create"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_reupsert_with_a_newer_version_restores_a_deleted_record(roster: TestClient, db: Database, kind: Kind) -> None:
    rec = kind.make(100)
    batch(roster, kind.plural, [rec])
    assert roster.delete(f"/api/v1/{kind.plural}/{rec['id']}", params={"version": 2}).json()["version"] == 2
    # The version the delete carried is now current: re-sending it is not enough.
    assert batch(roster, kind.plural, [kind.make(100, version=2)])["rejected"] == 1
    restored = batch(roster, kind.plural, [kind.make(100, version=3)])
    assert restored["results"][0]["outcome"] == "updated"
    got = roster.get(f"/api/v1/{kind.plural}/{rec['id']}").json()
    assert (got["deleted"], got["version"]) == (False, 3)
    assert rec["id"] in [i["id"] for i in roster.get(f"/api/v1/{kind.plural}?per_page=500").json()["items"]]
    last = audit_rows(db, kind.singular, rec["id"])[-1]
    assert (last.action, last.changes["deleted"]) == ("update", [True, False])

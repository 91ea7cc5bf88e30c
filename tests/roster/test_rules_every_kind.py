"""Roster API rules the other roster tests check for one record kind only, here for every kind.

Idempotent re-sends, stale versions and oversized batches for each of the seven
record kinds; unknown references of every kind; unplanned and ad-hoc visits;
file imports through the API (CSV and JSON lines, and the documented examples);
the audit trail of every visit action. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.tenancy import service as tenancy
from tests.conftest import World
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
from tests.roster.test_record_kinds import IDS, KINDS, Kind

FORMATS_DOC = Path(__file__).resolve().parents[2] / "docs" / "formats" / "roster-files.md"


@pytest.fixture
def roster(api: TestClient) -> TestClient:
    """B1, K1, C1, W1..W3 and plan visit P1 exist; kinds under test use ids from 100 up."""
    seed_people(api)
    batch(api, "plan-visits", [plan_visit_rec(1)])
    return api


def _total(api: TestClient, plural: str) -> int:
    total: int = api.get(f"/api/v1/{plural}", params={"per_page": 1}).json()["total"]
    return total


def _import(api: TestClient, plural: str, name: str, data: bytes) -> Any:
    return api.post(f"/api/v1/imports/{plural}", files={"file": (name, data, "application/octet-stream")})


# --- Idempotent re-sends, every kind ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_rule_resending_the_same_record_by_put_changes_nothing_for_every_kind(
    roster: TestClient, db: Database, kind: Kind
) -> None:
    rec = kind.make(100)
    first = roster.put(f"/api/v1/{kind.plural}/{rec['id']}", json=rec)
    again = roster.put(f"/api/v1/{kind.plural}/{rec['id']}", json=rec)
    assert (first.status_code, first.json()["outcome"]) == (201, "created")
    assert (again.status_code, again.json()) == (
        200,
        {"index": 0, "id": rec["id"], "outcome": "unchanged", "version": 1, "errors": []},
    )
    assert [a.action for a in audit_rows(db, kind.singular, rec["id"])] == ["create"]
    assert len(outbox_rows(db, kind.singular, rec["id"])) == 1


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_rule_resending_the_same_batch_changes_nothing_for_every_kind(
    roster: TestClient, db: Database, kind: Kind
) -> None:
    records = [kind.make(i) for i in range(100, 103)]
    before = _total(roster, kind.plural)
    assert batch(roster, kind.plural, records)["created"] == 3
    again = batch(roster, kind.plural, records)
    assert (again["received"], again["created"], again["updated"], again["unchanged"], again["rejected"]) == (
        3,
        0,
        0,
        3,
        0,
    )
    assert [r["outcome"] for r in again["results"]] == ["unchanged"] * 3
    assert _total(roster, kind.plural) == before + 3
    for rec in records:
        assert len(audit_rows(db, kind.singular, rec["id"])) == 1
        assert len(outbox_rows(db, kind.singular, rec["id"])) == 1


# --- Stale versions, every kind ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_rule_an_older_version_in_a_batch_is_refused_as_older_than_current_for_every_kind(
    roster: TestClient, db: Database, kind: Kind
) -> None:
    current = kind.make(100, version=3)
    batch(roster, kind.plural, [current])
    stored = roster.get(f"/api/v1/{kind.plural}/{current['id']}").json()
    r = batch(roster, kind.plural, [kind.make(100, version=2, **kind.change)])
    assert r["rejected"] == 1
    assert r["results"][0] == {
        "index": 0,
        "id": current["id"],
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
    assert roster.get(f"/api/v1/{kind.plural}/{current['id']}").json() == stored
    assert [a.action for a in audit_rows(db, kind.singular, current["id"])] == ["create"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_rule_an_older_version_by_put_is_422_older_than_current_for_every_kind(
    roster: TestClient, db: Database, kind: Kind
) -> None:
    current = kind.make(100, version=5)
    assert roster.put(f"/api/v1/{kind.plural}/{current['id']}", json=current).status_code == 201
    stored = roster.get(f"/api/v1/{kind.plural}/{current['id']}").json()
    r = roster.put(f"/api/v1/{kind.plural}/{current['id']}", json=kind.make(100, version=4, **kind.change))
    assert r.status_code == 422
    assert r.json()["error"]["errors"] == [
        {
            "index": 0,
            "record_id": current["id"],
            "field": "version",
            "value": 4,
            "reason": "older than current: stored version is 5",
            "code": "older_than_current",
        }
    ]
    assert roster.get(f"/api/v1/{kind.plural}/{current['id']}").json() == stored
    assert len(audit_rows(db, kind.singular, current["id"])) == 1


# --- Oversized batches, every kind ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_rule_a_batch_of_5001_is_refused_whole_for_every_kind(roster: TestClient, db: Database, kind: Kind) -> None:
    before = _total(roster, kind.plural)
    records = [kind.make(i) for i in range(1000, 6001)]
    assert len(records) == 5001
    r = roster.post(f"/api/v1/{kind.plural}/batch", json={"records": records})
    assert r.status_code == 413
    err = r.json()["error"]
    assert err["code"] == "batch_too_large"
    assert "5001" in err["message"]
    assert "5000" in err["message"]
    assert err["errors"][0]["field"] == "records"
    assert _total(roster, kind.plural) == before
    assert audit_rows(db, kind.singular, records[0]["id"]) == []


# --- Unknown references of every kind ---------------------------------------------------------------

UNKNOWN_REFERENCES = {
    "group-unknown-branch": (
        "groups",
        lambda i: {"id": f"G{i}", "version": 1, "name": "Run", "branch_id": "B1"},
        {"branch_id": "B404"},
        "branch_id",
        "B404",
        "unknown_branch",
    ),
    "contract-unknown-branch": (
        "contracts",
        lambda i: {"id": f"K{i}", "version": 1, "name": "Deal", "funder": "council", "branch_id": "B1"},
        {"branch_id": "B404"},
        "branch_id",
        "B404",
        "unknown_branch",
    ),
    "worker-unknown-branch": ("workers", worker_rec, {"branch_id": "B404"}, "branch_id", "B404", "unknown_branch"),
    "plan-visit-unknown-client": (
        "plan-visits",
        plan_visit_rec,
        {"client_id": "C404"},
        "client_id",
        "C404",
        "unknown_client",
    ),
    "visit-unknown-second-worker-of-a-double-up": (
        "visits",
        visit_rec,
        {"carers_needed": 2, "worker_ids": ["W1", "W404"]},
        "worker_ids",
        "W404",
        "unknown_worker",
    ),
}


@pytest.mark.parametrize(
    ("plural", "make", "bad", "field", "value", "code"), UNKNOWN_REFERENCES.values(), ids=UNKNOWN_REFERENCES.keys()
)
def test_rule_a_record_referencing_an_unknown_record_is_rejected_alone_in_its_batch(
    roster: TestClient, plural: str, make: Any, bad: dict[str, Any], field: str, value: str, code: str
) -> None:
    before = _total(roster, plural)
    good_a, good_b = make(200), make(202)
    bad_rec = {**make(201), **bad}
    r = batch(roster, plural, [good_a, bad_rec, good_b])
    assert (r["created"], r["rejected"]) == (2, 1), r
    rejected = r["results"][1]
    assert (rejected["index"], rejected["id"], rejected["outcome"]) == (1, bad_rec["id"], "rejected")
    [err] = rejected["errors"]
    assert (err["field"], err["value"], err["code"]) == (field, value, code)
    assert f"'{value}'" in err["reason"]
    assert "not found" in err["reason"]
    assert _total(roster, plural) == before + 2
    assert roster.get(f"/api/v1/{plural}/{bad_rec['id']}").status_code == 404


# --- Unplanned and ad-hoc visits, plan visits with type and description ------------------------------


def test_rule_planned_unplanned_and_adhoc_visits_are_stored_with_their_kind(roster: TestClient) -> None:
    r = batch(
        roster,
        "visits",
        [
            visit_rec(101, kind="planned", plan_visit_id="P1"),
            visit_rec(102, kind="unplanned"),
            visit_rec(103, kind="adhoc", carers_needed=2, worker_ids=["W1", "W2"]),
            visit_rec(104),
            visit_rec(105, kind="emergency"),
        ],
    )
    assert [x["outcome"] for x in r["results"]] == ["created"] * 4 + ["rejected"]
    err = r["results"][4]["errors"][0]
    assert (err["field"], err["value"], err["code"]) == ("kind", "emergency", "literal_error")
    got = {v: roster.get(f"/api/v1/visits/{v}").json() for v in ("V101", "V102", "V103", "V104")}
    assert {v: (g["kind"], g["plan_visit_id"]) for v, g in got.items()} == {
        "V101": ("planned", "P1"),
        "V102": ("unplanned", None),
        "V103": ("adhoc", None),
        "V104": ("planned", None),
    }
    assert got["V103"]["worker_ids"] == ["W1", "W2"]


def test_rule_an_unplanned_visit_is_allocated_confirmed_and_an_adhoc_one_cancelled(roster: TestClient) -> None:
    batch(roster, "visits", [visit_rec(102, kind="unplanned", carers_needed=2), visit_rec(103, kind="adhoc")])
    for worker in ("W1", "W2"):
        r = roster.post("/api/v1/visits/V102/allocations", json={"worker_id": worker})
        assert (r.status_code, r.json()["outcome"]) == (200, "updated")
    assert roster.post("/api/v1/visits/V102/confirm").json()["outcome"] == "updated"
    assert roster.post("/api/v1/visits/V103/cancel", json={"reason": "not needed"}).json()["outcome"] == "updated"
    unplanned = roster.get("/api/v1/visits/V102").json()
    assert (unplanned["kind"], unplanned["worker_ids"]) == ("unplanned", ["W1", "W2"])
    assert unplanned["confirmed_at"] is not None
    adhoc = roster.get("/api/v1/visits/V103").json()
    assert (adhoc["kind"], adhoc["status"], adhoc["cancel_reason"]) == ("adhoc", "cancelled", "not needed")


def test_rule_a_plan_visit_keeps_its_visit_type_code_and_description(roster: TestClient) -> None:
    batch(
        roster,
        "plan-visits",
        [
            plan_visit_rec(101, visit_type_code="MED", visit_type_description="Medication prompt"),
            plan_visit_rec(102, visit_type_code="SIT", visit_type_description=None),
        ],
    )
    with_description = roster.get("/api/v1/plan-visits/P101").json()
    assert (with_description["visit_type_code"], with_description["visit_type_description"]) == (
        "MED",
        "Medication prompt",
    )
    assert roster.get("/api/v1/plan-visits/P102").json()["visit_type_description"] is None
    r = batch(roster, "plan-visits", [plan_visit_rec(103, visit_type_code="")])
    assert r["results"][0]["errors"][0]["field"] == "visit_type_code"


# --- File imports through the API -----------------------------------------------------------------

CLIENTS_CSV = (
    b"id,version,branch_id,first_name,last_name,postcode\n"
    b"C101,1,B1,Ada,Lovelace,BS1 4DJ\n"
    b"C102,1,B404,Bea,Baker,\n"
    b"C103,1,B1,Cy,Cole,\n"
)


def test_rule_a_csv_file_imports_through_the_api_with_a_report_per_line(roster: TestClient, db: Database) -> None:
    r = _import(roster, "clients", "clients.csv", CLIENTS_CSV)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["kind"], report["file"], report["format"]) == ("client", "clients.csv", "csv")
    assert (report["read"], report["created"], report["updated"], report["unchanged"], report["rejected"]) == (
        3,
        2,
        0,
        0,
        1,
    )
    [err] = report["errors"]
    assert (err["line"], err["id"], err["field"], err["value"], err["code"]) == (
        3,
        "C102",
        "branch_id",
        "B404",
        "unknown_branch",
    )
    assert roster.get("/api/v1/clients/C101").json()["postcode"] == "BS1 4DJ"
    assert roster.get("/api/v1/clients/C102").status_code == 404
    again = _import(roster, "clients", "clients.csv", CLIENTS_CSV).json()
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 2, 1)
    assert len(audit_rows(db, "client", "C101")) == 1


def test_rule_a_json_lines_file_imports_through_the_api_and_bad_lines_are_rejected_alone(
    roster: TestClient, db: Database
) -> None:
    lines = [
        json.dumps(visit_rec(101, kind="unplanned", carers_needed=2, worker_ids=["W1", "W2"])),
        "{not json",
        "",
        json.dumps(visit_rec(102, start="2026-03-29T09:00:00+01:00", end="2026-03-29T08:00:00+01:00")),
        json.dumps(visit_rec(103, contract_id="K404")),
        json.dumps(visit_rec(104)),
    ]
    data = ("\n".join(lines) + "\n").encode()
    r = _import(roster, "visits", "visits.jsonl", data)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["format"], report["read"], report["created"], report["rejected"]) == ("jsonl", 5, 2, 3)
    assert [(e["line"], e["id"], e["field"], e["code"]) for e in report["errors"]] == [
        (2, None, None, "invalid_json"),
        (4, "V102", "end", "end_before_start"),
        (5, "V103", "contract_id", "unknown_contract"),
    ]
    assert roster.get("/api/v1/visits/V101").json()["worker_ids"] == ["W1", "W2"]
    assert [e["actor"]["kind"] for e in roster.get("/api/v1/visits/V104/history").json()["entries"]] == ["token"]
    # The same lines again: all unchanged or rejected again.
    again = _import(roster, "visits", "visits.jsonl", data).json()
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 2, 3)
    assert len(audit_rows(db, "visit", "V101")) == 1


def test_rule_an_api_import_of_an_unreadable_file_is_refused_whole_and_changes_nothing(roster: TestClient) -> None:
    before = _total(roster, "clients")
    bad = b"id,version,branch_id,first_name,last_name,shoe_size\nC101,1,B1,Ada,Lovelace,9\n"
    r = _import(roster, "clients", "clients.csv", bad)
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["errors"][0]["code"] == "bad_file"
    assert "shoe_size" in body["message"]
    assert _total(roster, "clients") == before
    unknown = _import(roster, "people", "people.csv", CLIENTS_CSV)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["errors"][0]["field"] == "kind"


def _documented_examples() -> dict[str, str]:
    """The example files of docs/formats/roster-files.md, by file name."""
    text = FORMATS_DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"`([\w-]+\.(?:csv|jsonl))`:\s*```\w*\n(.*?)```", text, flags=re.DOTALL))


def test_rule_the_documented_example_files_import_as_documented(api: TestClient) -> None:
    examples = _documented_examples()
    assert set(examples) == {"visits.csv", "visits.jsonl", "clients.csv", "plan-visits.csv"}
    batch(api, "branches", [{"id": "BR01", "version": 1, "name": "Bristol"}])
    batch(api, "groups", [{"id": "GR0101", "version": 1, "name": "Morning", "branch_id": "BR01"}])
    batch(api, "contracts", [{"id": "CON-01-LA", "version": 1, "name": "Council", "funder": "council"}])
    batch(api, "workers", [worker_rec(0, id=w, branch_id="BR01") for w in ("WK000565", "WK000012", "WK000013")])
    for plural, name in (("clients", "clients.csv"), ("plan-visits", "plan-visits.csv")):
        report = _import(api, plural, name, examples[name].encode()).json()
        assert (report["read"], report["created"], report["rejected"]) == (1, 1, 0), report
    batch(api, "clients", [client_rec(2, id="CL000002", branch_id="BR01")])
    from_csv = _import(api, "visits", "visits.csv", examples["visits.csv"].encode()).json()
    assert (from_csv["read"], from_csv["created"], from_csv["rejected"]) == (2, 2, 0), from_csv
    # The JSON-lines example describes the same two visits: importing it changes nothing.
    from_jsonl = _import(api, "visits", "visits.jsonl", examples["visits.jsonl"].encode()).json()
    assert (from_jsonl["format"], from_jsonl["read"], from_jsonl["unchanged"]) == ("jsonl", 2, 2), from_jsonl
    v1002 = api.get("/api/v1/visits/V1002").json()
    assert (v1002["kind"], v1002["carers_needed"], v1002["worker_ids"]) == ("unplanned", 2, ["WK000012", "WK000013"])
    plan = api.get("/api/v1/plan-visits/PV0000001").json()
    assert (plan["days"], plan["start_time"], plan["visit_type_description"]) == (
        "MON,TUE,WED,THU,FRI",
        "07:30",
        "Personal care",
    )


# --- The audit trail of every visit action -----------------------------------------------------------


def test_rule_every_visit_action_is_audited_with_the_token_and_the_before_and_after(
    roster: TestClient, world: World
) -> None:
    batch(roster, "visits", [visit_rec(101, carers_needed=2)])
    roster.post("/api/v1/visits/V101/allocations", json={"worker_id": "W1"})
    roster.post("/api/v1/visits/V101/allocations", json={"worker_id": "W2"})
    roster.delete("/api/v1/visits/V101/allocations/W1")
    roster.post("/api/v1/visits/V101/cancel", json={"reason": "client in hospital"})
    roster.delete("/api/v1/visits/V101")
    entries = roster.get("/api/v1/visits/V101/history").json()["entries"]
    assert [e["action"] for e in entries] == ["delete", "cancel", "deallocate", "allocate", "allocate", "create"]
    assert {(e["actor"]["kind"], e["actor"]["label"]) for e in entries} == {("token", f"token:{world.token[:12]}")}
    deallocate, allocate_second = entries[2], entries[3]
    assert deallocate["changes"]["worker_ids"] == {"before": ["W1", "W2"], "after": ["W2"]}
    assert allocate_second["changes"]["worker_ids"] == {"before": ["W1"], "after": ["W1", "W2"]}
    cancel = entries[1]["changes"]
    assert cancel["status"] == {"before": "scheduled", "after": "cancelled"}
    assert cancel["cancel_reason"] == {"before": None, "after": "client in hospital"}
    assert entries[0]["changes"]["deleted"] == {"before": False, "after": True}


# --- Times out of range, repeated days, ids a URL cannot address --------------------------------------

# Valid ISO 8601 with an offset, but outside the years a visit may have (1900-2999): around year 1 or
# 9999 the UTC instant does not even exist.
OUT_OF_RANGE = {
    "start-before-year-1": {"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-01T02:00:00+01:00"},
    "times-after-year-9999": {"start": "9999-12-31T22:00:00-05:00", "end": "9999-12-31T23:30:00-05:00"},
    "year-1899": {"start": "1899-12-31T08:00:00+00:00", "end": "1899-12-31T09:00:00+00:00"},
    "year-3000": {"start": "3000-01-01T08:00:00Z", "end": "3000-01-01T09:00:00Z"},
}


def _visits_csv(*records: dict[str, Any]) -> bytes:
    head = "id,version,client_id,contract_id,start,end"
    rows = [f"{r['id']},{r['version']},{r['client_id']},{r['contract_id']},{r['start']},{r['end']}" for r in records]
    return ("\n".join([head, *rows]) + "\n").encode()


@pytest.mark.parametrize("times", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_rule_a_visit_time_outside_years_1900_to_2999_is_rejected_alone_never_a_server_error(
    roster: TestClient, times: dict[str, Any]
) -> None:
    """Batch, single PUT, JSON lines and CSV: the record is rejected naming field, value and range; the rest apply."""
    before = _total(roster, "visits")
    r = roster.post("/api/v1/visits/batch", json={"records": [visit_rec(101), visit_rec(102, **times), visit_rec(103)]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["outcome"] for x in body["results"]] == ["created", "rejected", "created"]
    err = body["results"][1]["errors"][0]
    assert err["field"] == "start"
    assert err["value"] == times["start"]
    assert "expected a year from 1900 to 2999" in err["reason"]
    assert _total(roster, "visits") == before + 2
    single = roster.put("/api/v1/visits/V104", json=visit_rec(104, **times))
    assert single.status_code == 422, single.text
    lines = "\n".join(json.dumps(v) for v in (visit_rec(105), visit_rec(106, **times), visit_rec(107))) + "\n"
    imported = _import(roster, "visits", "visits.jsonl", lines.encode())
    assert imported.status_code == 200, imported.text
    assert (imported.json()["created"], imported.json()["rejected"]) == (2, 1)
    csv = _visits_csv(visit_rec(108), visit_rec(109, **times), visit_rec(110))
    imported = _import(roster, "visits", "visits.csv", csv)
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert (report["created"], report["rejected"]) == (2, 1)
    assert (report["errors"][0]["line"], report["errors"][0]["field"]) == (3, "start")


def test_rule_a_visit_in_years_1900_and_2999_is_accepted(roster: TestClient) -> None:
    edges = [
        visit_rec(101, start="1900-01-01T08:00:00+00:00", end="1900-01-01T09:00:00+00:00"),
        visit_rec(102, start="2999-12-31T08:00:00+00:00", end="2999-12-31T09:00:00+00:00"),
    ]
    assert [x["outcome"] for x in batch(roster, "visits", edges)["results"]] == ["created", "created"]


def test_rule_a_plan_visit_giving_a_day_twice_is_rejected_alone_alike_on_both_databases(roster: TestClient) -> None:
    """Eleven MONs once passed validation and outgrew PostgreSQL's days column (a 500); now a per-record error."""
    days = ",".join(["MON"] * 11)
    r = roster.post(
        "/api/v1/plan-visits/batch",
        json={"records": [plan_visit_rec(101), plan_visit_rec(102, days=days), plan_visit_rec(103)]},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["created", "rejected", "created"]
    err = results[1]["errors"][0]
    assert (err["field"], err["value"]) == ("days", days)
    assert "day MON is given twice" in err["reason"]


@pytest.mark.parametrize("bad", ["CL/0001", "/", ".", ".."])
def test_rule_an_id_its_own_url_cannot_address_is_refused(roster: TestClient, bad: str) -> None:
    """Batches once accepted 'CL/0001', which GET, DELETE and history of /clients/{id} could never reach."""
    r = batch(roster, "clients", [client_rec(0, id=bad), client_rec(1, id="CL.0001")])
    rejected, accepted = r["results"]
    assert rejected["outcome"] == "rejected"
    assert (rejected["errors"][0]["field"], rejected["errors"][0]["value"]) == ("id", bad)
    assert "own URL could not address it" in rejected["errors"][0]["reason"]
    assert accepted["outcome"] == "created"
    assert roster.get("/api/v1/clients/CL.0001").status_code == 200
    # A reference to such an id is refused the same way, naming the field.
    visit = batch(roster, "visits", [visit_rec(101, client_id=bad)])["results"][0]
    assert (visit["outcome"], visit["errors"][0]["field"]) == ("rejected", "client_id")


def test_rule_a_lower_case_postcode_is_accepted_and_stored_upper_case(roster: TestClient) -> None:
    r = batch(roster, "clients", [client_rec(101, postcode="bs1 4dj")])
    assert r["results"][0]["outcome"] == "created", r
    assert roster.get("/api/v1/clients/C101").json()["postcode"] == "BS1 4DJ"


# --- Token scope on the API: one environment ---------------------------------------------------------


def test_rule_a_roster_token_cannot_read_another_environment_of_its_tenant_through_the_api(
    roster: TestClient, db: Database, world: World
) -> None:
    other = tenancy.do_create_environment(db, SYSTEM, tenant_id=world.tenant.id, name="North", prefix="North")
    assert roster.get("/api/v1/clients/C1").status_code == 200
    for path in ("/api/v1/clients", "/api/v1/clients/C1", "/api/v1/clients/C1/history"):
        r = roster.get(path, params={"environment": other.id})
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"


# --- The API contract ----------------------------------------------------------------------------------


def test_rule_the_openapi_contract_at_docs_describes_every_roster_route_under_api_v1(api: TestClient) -> None:
    assert "/api/v1/openapi.json" in api.get("/docs").text
    contract = api.get("/api/v1/openapi.json").json()
    paths = contract["paths"]
    for kind in KINDS:
        one = f"/api/v1/{kind.plural}/{{external_id}}"
        assert {"put", "get", "delete"} <= set(paths[one]), kind.plural
        assert "post" in paths[f"/api/v1/{kind.plural}/batch"], kind.plural
        assert "get" in paths[f"/api/v1/{kind.plural}"], kind.plural
        assert "get" in paths[f"{one}/history"], kind.plural
        body = paths[f"/api/v1/{kind.plural}/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        ref = body["$ref"].rsplit("/", 1)[-1]
        records = contract["components"]["schemas"][ref]["properties"]["records"]
        assert records["maxItems"] == 5000, kind.plural
    assert "post" in paths["/api/v1/visits/{visit_id}/allocations"]
    assert "delete" in paths["/api/v1/visits/{visit_id}/allocations/{worker_id}"]
    assert "post" in paths["/api/v1/visits/{visit_id}/confirm"]
    assert "post" in paths["/api/v1/visits/{visit_id}/cancel"]
    assert "post" in paths["/api/v1/imports/{plural}"]

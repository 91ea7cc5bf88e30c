"""Per-record rejections: one bad record is reported on its own and the rest of the batch applies.

Each rejection names the record's index and id, the field, the value and the
reason. Batches over 5,000 records are refused whole. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from carehub.platform.db import Database
from tests.roster.test_api_basics import (
    GROUP,
    batch,
    client_rec,
    plan_visit_rec,
    seed,
    seed_people,
    visit_rec,
)


@dataclass(frozen=True)
class Case:
    """A batch [good, bad, good] of ``plural`` and what the bad record's first error must say."""

    plural: str
    good: Callable[[int], dict[str, Any]]
    bad: Any
    bad_id: str | None
    field: str | None
    value: Any
    code: str
    reason: str  # a part of the reason


def _client(i: int) -> dict[str, Any]:
    return client_rec(10 + i)


def _plan(i: int) -> dict[str, Any]:
    return plan_visit_rec(10 + i)


def _visit(i: int) -> dict[str, Any]:
    return visit_rec(10 + i)


CASES = {
    "unknown-client": Case(
        "visits",
        _visit,
        visit_rec(1, client_id="C404"),
        "V1",
        "client_id",
        "C404",
        "unknown_client",
        "client not found: no client with id 'C404' in this environment",
    ),
    "unknown-worker": Case(
        "visits",
        _visit,
        visit_rec(1, worker_ids=["W404"]),
        "V1",
        "worker_ids",
        "W404",
        "unknown_worker",
        "worker not found: no worker with id 'W404' in this environment",
    ),
    "unknown-contract": Case(
        "visits",
        _visit,
        visit_rec(1, contract_id="K404"),
        "V1",
        "contract_id",
        "K404",
        "unknown_contract",
        "contract not found",
    ),
    "unknown-contract-of-plan-visit": Case(
        "plan-visits",
        _plan,
        plan_visit_rec(5, contract_id="K404"),
        "P5",
        "contract_id",
        "K404",
        "unknown_contract",
        "contract not found",
    ),
    "unknown-branch": Case(
        "clients",
        _client,
        client_rec(5, branch_id="B404"),
        "C5",
        "branch_id",
        "B404",
        "unknown_branch",
        "branch not found",
    ),
    "unknown-group": Case(
        "clients", _client, client_rec(5, group_id="G404"), "C5", "group_id", "G404", "unknown_group", "group not found"
    ),
    "unknown-plan-visit": Case(
        "visits",
        _visit,
        visit_rec(1, plan_visit_id="P404"),
        "V1",
        "plan_visit_id",
        "P404",
        "unknown_plan_visit",
        "plan visit not found",
    ),
    "end-before-start": Case(
        "visits",
        _visit,
        visit_rec(1, start="2026-03-29T09:00:00+01:00", end="2026-03-29T08:00:00+01:00"),
        "V1",
        "end",
        "2026-03-29T07:00:00+00:00",
        "end_before_start",
        "must be after start (2026-03-29T08:00:00+00:00)",
    ),
    "end-equal-to-start": Case(
        "visits",
        _visit,
        visit_rec(1, start="2026-03-29T08:00:00+01:00", end="2026-03-29T07:00:00Z"),
        "V1",
        "end",
        "2026-03-29T07:00:00+00:00",
        "end_before_start",
        "must be after start",
    ),
    "naive-start-without-offset": Case(
        "visits",
        _visit,
        visit_rec(1, start="2026-03-29T08:00:00"),
        "V1",
        "start",
        "2026-03-29T08:00:00",
        "timezone_aware",
        "timezone",
    ),
    "naive-end-without-offset": Case(
        "visits",
        _visit,
        visit_rec(1, end="2026-03-29T08:30:00"),
        "V1",
        "end",
        "2026-03-29T08:30:00",
        "timezone_aware",
        "timezone",
    ),
    "bad-postcode": Case(
        "clients",
        _client,
        client_rec(5, postcode="NOT A POSTCODE"),
        "C5",
        "postcode",
        "NOT A POSTCODE",
        "string_pattern_mismatch",
        "pattern",
    ),
    "bad-days": Case(
        "plan-visits", _plan, plan_visit_rec(5, days="MON,FUNDAY"), "P5", "days", "MON,FUNDAY", "value_error", "FUNDAY"
    ),
    "bad-start-time": Case(
        "plan-visits",
        _plan,
        plan_visit_rec(5, start_time="25:00"),
        "P5",
        "start_time",
        "25:00",
        "value_error",
        "not a 24-hour time HH:MM",
    ),
    "pattern-ends-before-it-starts": Case(
        "plan-visits",
        _plan,
        plan_visit_rec(5, starts_on="2026-03-02", ends_on="2026-03-01"),
        "P5",
        "ends_on",
        "2026-03-01",
        "end_before_start",
        "must be on or after starts_on",
    ),
    "too-many-workers-for-carers-needed": Case(
        "visits",
        _visit,
        visit_rec(1, carers_needed=1, worker_ids=["W1", "W2"]),
        "V1",
        "worker_ids",
        ["W1", "W2"],
        "too_many_workers",
        "2 workers allocated but the visit needs 1",
    ),
    "duplicate-worker": Case(
        "visits",
        _visit,
        visit_rec(1, carers_needed=2, worker_ids=["W1", "W1"]),
        "V1",
        "worker_ids",
        ["W1", "W1"],
        "duplicate_worker",
        "listed more than once",
    ),
    "string-instead-of-object": Case(
        "clients", _client, "C1,Ada,Lovelace", None, None, "C1,Ada,Lovelace", "model_type", "valid dictionary"
    ),
    "number-instead-of-object": Case("visits", _visit, 42, None, None, 42, "model_type", "valid dictionary"),
    "missing-id": Case(
        "clients",
        _client,
        {k: v for k, v in client_rec(5).items() if k != "id"},
        None,
        "id",
        None,
        "missing",
        "Field required",
    ),
    "empty-id": Case("clients", _client, client_rec(5, id="  "), "  ", "id", "  ", "string_too_short", "at least 1"),
    "unknown-field": Case(
        "clients", _client, client_rec(5, shoe_size=9), "C5", "shoe_size", 9, "extra_forbidden", "not permitted"
    ),
    "unknown-funder": Case(
        "contracts",
        lambda i: {"id": f"K{10 + i}", "version": 1, "name": "Private", "funder": "private"},
        {"id": "K2", "version": 1, "name": "X", "funder": "lottery"},
        "K2",
        "funder",
        "lottery",
        "literal_error",
        "'council'",
    ),
    "nul-character-in-a-name": Case(
        "clients",
        _client,
        client_rec(5, last_name="Lo\x00ve"),
        "C5",
        "last_name",
        "Lo\x00ve",
        "string_pattern_mismatch",
        "",
    ),
}


def _prepare(api: TestClient) -> None:
    seed_people(api, clients=1, workers=2)
    batch(api, "groups", [GROUP])
    batch(api, "plan-visits", [plan_visit_rec(1)])


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rule_a_bad_record_is_rejected_alone_with_index_id_field_value_and_reason(
    api: TestClient, db: Database, case: Case
) -> None:
    _prepare(api)
    before = api.get(f"/api/v1/{case.plural}").json()["total"]
    r = batch(api, case.plural, [case.good(0), case.bad, case.good(2)])
    assert (r["received"], r["created"], r["rejected"]) == (3, 2, 1), r
    assert [x["outcome"] for x in r["results"]] == ["created", "rejected", "created"]
    bad = r["results"][1]
    assert (bad["index"], bad["id"]) == (1, case.bad_id)
    err = bad["errors"][0]
    assert (err["field"], err["value"], err["code"]) == (case.field, case.value, case.code), err
    assert case.reason in err["reason"], err
    # Nothing of the bad record was stored; both good ones were.
    assert api.get(f"/api/v1/{case.plural}").json()["total"] == before + 2
    if case.bad_id and case.bad_id.strip():
        assert api.get(f"/api/v1/{case.plural}/{case.bad_id}").status_code == 404


def test_rule_every_problem_of_a_record_is_reported_not_just_the_first(api: TestClient) -> None:
    seed_people(api)
    rec = visit_rec(
        1,
        client_id="C404",
        contract_id="K404",
        start="2026-03-29T09:00:00+01:00",
        end="2026-03-29T08:00:00+01:00",
        worker_ids=["W404"],
    )
    errors = batch(api, "visits", [rec])["results"][0]["errors"]
    assert {e["code"] for e in errors} == {"unknown_client", "unknown_contract", "end_before_start", "unknown_worker"}


def test_rule_a_single_put_of_a_bad_record_is_422_and_names_the_field(api: TestClient) -> None:
    seed(api)
    r = api.put("/api/v1/clients/C1", json=client_rec(1, branch_id="B404"))
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["code"] == "invalid_input"
    assert "branch_id" in body["message"]
    assert body["errors"][0]["field"] == "branch_id"
    assert body["errors"][0]["value"] == "B404"
    assert api.get("/api/v1/clients/C1").status_code == 404


def test_rule_a_put_whose_body_id_differs_from_the_url_is_refused(api: TestClient) -> None:
    seed(api)
    r = api.put("/api/v1/clients/C1", json=client_rec(2))
    assert r.status_code == 422
    assert r.json()["error"]["errors"][0]["field"] == "id"
    assert api.get("/api/v1/clients").json()["total"] == 0


def test_rule_a_reference_to_a_deleted_record_is_not_found(api: TestClient) -> None:
    seed_people(api)
    assert api.delete("/api/v1/clients/C1").json()["outcome"] == "deleted"
    err = batch(api, "visits", [visit_rec(1)])["results"][0]["errors"][0]
    assert (err["field"], err["code"]) == ("client_id", "unknown_client")


def test_rule_a_batch_that_is_not_a_list_is_refused(api: TestClient) -> None:
    not_lists: list[object] = [{"records": {"id": "C1"}}, {"records": "C1"}, {"rows": []}, [client_rec(1)]]
    for body in not_lists:
        r = api.post("/api/v1/clients/batch", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "invalid_input"


def test_rule_an_empty_batch_changes_nothing(api: TestClient) -> None:
    r = batch(api, "clients", [])
    assert (r["received"], r["results"]) == (0, [])


def test_rule_batch_of_exactly_5000_is_accepted(api: TestClient) -> None:
    seed(api)
    r = batch(api, "clients", [client_rec(i) for i in range(5000)])
    assert (r["received"], r["created"], r["rejected"]) == (5000, 5000, 0)
    assert api.get("/api/v1/clients?per_page=1").json()["total"] == 5000

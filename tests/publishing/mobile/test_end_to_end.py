"""End to end: a roster change made through the API reaches the worker's device feed, through real publishing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from carehub.platform.auth import service as auth
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.service import config
from tests.conftest import World

LONDON = ZoneInfo("Europe/London")


def _ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


def _batch(api: TestClient, plural: str, records: list[dict[str, Any]]) -> None:
    result = _ok(api.post(f"/api/v1/{plural}/batch", json={"records": records}))
    assert not [r for r in result["results"] if r.get("errors")], result


def _visit(visit_id: str, start: Any, workers: list[str], version: int = 1, carers: int = 1) -> dict[str, Any]:
    return {
        "carers_needed": carers,
        "id": visit_id,
        "version": version,
        "client_id": "C1",
        "contract_id": "K1",
        "plan_visit_id": "PV1",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=45)).isoformat(),
        "worker_ids": workers,
    }


def test_a_roster_change_through_the_api_reaches_the_device(
    admin_api: TestClient, admin_token: str, api: TestClient, db: Database, world: World
) -> None:
    tomorrow = utc_now().astimezone(LONDON).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(9), tzinfo=LONDON)
    _batch(api, "branches", [{"id": "B1", "version": 1, "name": "Bristol"}])
    _batch(api, "contracts", [{"id": "K1", "version": 1, "name": "Council", "funder": "council", "branch_id": "B1"}])
    _batch(
        api,
        "clients",
        [
            {
                "id": "C1",
                "version": 1,
                "branch_id": "B1",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "status": "active",
            }
        ],
    )
    _batch(
        api,
        "workers",
        [
            {
                "id": w,
                "version": 1,
                "branch_id": "B1",
                "first_name": first,
                "last_name": "Carer",
                "status": "active",
                "mobile_enabled": True,
            }
            for w, first in (("W1", "Jo"), ("W2", "Sam"))
        ],
    )
    _batch(
        api,
        "plan-visits",
        [
            {
                "id": "PV1",
                "version": 1,
                "client_id": "C1",
                "contract_id": "K1",
                "visit_type_code": "AM",
                "visit_type_description": "Morning call: personal care",
                "days": "MON,TUE,WED,THU,FRI,SAT,SUN",
                "start_time": "09:00",
                "duration_minutes": 45,
                "starts_on": (tomorrow - timedelta(days=7)).isoformat(),
            }
        ],
    )
    _batch(api, "visits", [_visit("V1", start, ["W1"]), _visit("V2", start + timedelta(days=1), ["W2"], carers=2)])
    config.do_set_monitored(db, auth.actor_for_token(db, admin_token), world.env.id, ["K1"], monitored=True)

    code = _ok(admin_api.post("/api/v1/mobile/link-codes", json={"worker_id": "W1"}))
    token = _ok(
        api.post(
            "/api/mobile/v1/link", json={"username": code["username"], "code": code["code"], "device_name": "Phone"}
        )
    )["token"]
    device = {"Authorization": f"Bearer {token}"}
    first = _ok(api.get("/api/mobile/v1/sync", headers=device))
    assert [v["external_id"] for v in first["visits"]] == ["V1"]
    assert [c["first_name"] for c in first["clients"]] == ["Ada"]
    assert [p["description"] for p in first["care_plans"]] == ["Morning call: personal care"]

    # Allocated to another visit through the API: it shows at the next pull.
    _ok(api.post("/api/v1/visits/V2/allocations", json={"worker_id": "W1"}))
    second = _ok(api.get("/api/mobile/v1/sync", params={"cursor": first["cursor"]}, headers=device))
    assert [v["external_id"] for v in second["visits"]] == ["V2"]
    assert sorted(w["first_name"] for w in second["visits"][0]["workers"]) == ["Jo", "Sam"]

    # A visit's time changed through the API: the new time shows.
    later = start + timedelta(hours=2)
    _batch(api, "visits", [_visit("V1", later, ["W1"], version=2)])
    third = _ok(api.get("/api/mobile/v1/sync", params={"cursor": second["cursor"]}, headers=device))
    assert [(v["external_id"], datetime.fromisoformat(v["start_at"])) for v in third["visits"]] == [("V1", later)]

    # De-allocated through the API: the device drops the visit.
    _ok(api.delete("/api/v1/visits/V2/allocations/W1"))
    fourth = _ok(api.get("/api/mobile/v1/sync", params={"cursor": third["cursor"]}, headers=device))
    assert fourth["visits"] == []
    assert [(d["external_id"], d["reason"]) for d in fourth["drops"]] == [("V2", "unassigned")]

    # Cancelled through the API: dropped as cancelled.
    _ok(api.post("/api/v1/visits/V1/cancel", json={"reason": "Client in hospital"}))
    fifth = _ok(api.get("/api/mobile/v1/sync", params={"cursor": fourth["cursor"]}, headers=device))
    assert [(d["external_id"], d["reason"]) for d in fifth["drops"]] == [("V1", "cancelled")]

    # The only carer de-allocated: de-allocating a published visit cancels it in care planning (seed 000).
    _batch(api, "visits", [_visit("V3", start + timedelta(days=2), ["W1"])])
    sixth = _ok(api.get("/api/mobile/v1/sync", params={"cursor": fifth["cursor"]}, headers=device))
    assert [v["external_id"] for v in sixth["visits"]] == ["V3"]
    _ok(api.delete("/api/v1/visits/V3/allocations/W1"))
    seventh = _ok(api.get("/api/mobile/v1/sync", params={"cursor": sixth["cursor"]}, headers=device))
    assert [(d["external_id"], d["reason"]) for d in seventh["drops"]] == [("V3", "cancelled")]

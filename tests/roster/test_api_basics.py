"""The roster API end to end, on SQLite and PostgreSQL.

The record builders and database probes here are shared by the other roster
rule tests (``from tests.roster.test_api_basics import ...``).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub.platform.audit import AuditEntry
from carehub.platform.db import Database
from carehub.platform.outbox import OutboxEvent

BRANCH = {"id": "B1", "version": 1, "name": "Bristol"}
GROUP = {"id": "G1", "version": 1, "name": "Morning run", "branch_id": "B1"}
CONTRACT = {"id": "K1", "version": 1, "name": "Council framework", "funder": "council"}


def client_rec(i: int, version: int | str = 1, **over: Any) -> dict[str, Any]:
    return {"id": f"C{i}", "version": version, "branch_id": "B1", "first_name": "Ada", "last_name": f"L{i}", **over}


def worker_rec(i: int, version: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "id": f"W{i}",
        "version": version,
        "branch_id": "B1",
        "first_name": "Wren",
        "last_name": f"Carer{i}",
        "status": "active",
        "mobile_enabled": True,
        **over,
    }


def plan_visit_rec(i: int, version: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "id": f"P{i}",
        "version": version,
        "client_id": "C1",
        "contract_id": "K1",
        "visit_type_code": "PC",
        "visit_type_description": "Personal care",
        "days": "MON,WED,FRI",
        "start_time": "08:00",
        "duration_minutes": 30,
        "carers_needed": 1,
        "starts_on": "2026-03-02",
        **over,
    }


def visit_rec(i: int, version: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "id": f"V{i}",
        "version": version,
        "client_id": "C1",
        "contract_id": "K1",
        "start": "2026-03-29T08:00:00+01:00",
        "end": "2026-03-29T08:30:00+01:00",
        "carers_needed": 1,
        "worker_ids": [],
        **over,
    }


def seed(api: TestClient) -> None:
    r = api.post("/api/v1/branches/batch", json={"records": [BRANCH]})
    assert r.status_code == 200, r.text
    assert api.post("/api/v1/contracts/batch", json={"records": [CONTRACT]}).status_code == 200


def seed_people(api: TestClient, clients: int = 1, workers: int = 3) -> None:
    """Branch B1, contract K1, clients C1.., workers W1.. (all created)."""
    seed(api)
    for plural, records in (
        ("clients", [client_rec(i) for i in range(1, clients + 1)]),
        ("workers", [worker_rec(i) for i in range(1, workers + 1)]),
    ):
        r = api.post(f"/api/v1/{plural}/batch", json={"records": records})
        assert r.status_code == 200, r.text
        assert r.json()["created"] == len(records), r.text


def batch(api: TestClient, plural: str, records: list[Any]) -> dict[str, Any]:
    r = api.post(f"/api/v1/{plural}/batch", json={"records": records})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def audit_rows(db: Database, entity: str, external_id: str) -> list[AuditEntry]:
    """Audit rows of one record, oldest first."""
    with db.read() as session:
        stmt = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.external_id == external_id)
        return list(session.scalars(stmt.order_by(AuditEntry.id)))


def outbox_rows(db: Database, entity: str, external_id: str) -> list[OutboxEvent]:
    """Outbox events of one record, oldest first."""
    with db.read() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.entity == entity).order_by(OutboxEvent.id))
        return [e for e in rows if e.payload.get("id") == external_id]


def test_every_endpoint_requires_authentication_except_health(anonymous: TestClient) -> None:
    assert anonymous.get("/health").status_code == 200
    r = anonymous.get("/api/v1/clients")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_required"
    assert anonymous.post("/api/v1/clients/batch", json={"records": []}).status_code == 401
    assert anonymous.get("/api/v1/clients", headers={"Authorization": "Bearer chk_nope"}).status_code == 401


def test_resending_the_same_record_changes_nothing(api: TestClient) -> None:
    seed(api)
    first = api.post("/api/v1/clients/batch", json={"records": [client_rec(1)]}).json()
    again = api.post("/api/v1/clients/batch", json={"records": [client_rec(1)]}).json()
    assert first["created"] == 1
    assert again["unchanged"] == 1
    assert again["created"] == again["updated"] == 0


def test_older_version_than_stored_is_refused_as_older_than_current(api: TestClient) -> None:
    seed(api)
    api.post("/api/v1/clients/batch", json={"records": [client_rec(1, version=3)]})
    r = api.post("/api/v1/clients/batch", json={"records": [client_rec(1, version=2, last_name="Changed")]}).json()
    assert r["rejected"] == 1
    err = r["results"][0]["errors"][0]
    assert err["field"] == "version"
    assert "older than current" in err["reason"]
    assert api.get("/api/v1/clients/C1").json()["last_name"] == "L1"


def test_batch_rejects_bad_records_and_applies_the_rest(api: TestClient) -> None:
    seed(api)
    records = [client_rec(1), client_rec(2, branch_id="NOPE"), client_rec(3)]
    r = api.post("/api/v1/clients/batch", json={"records": records}).json()
    assert (r["created"], r["rejected"]) == (2, 1)
    bad = r["results"][1]
    assert bad["id"] == "C2"
    assert bad["errors"][0] == {
        "field": "branch_id",
        "value": "NOPE",
        "reason": "branch not found: no branch with id 'NOPE' in this environment",
        "code": "unknown_branch",
    }


def test_oversized_batch_is_refused_whole(api: TestClient) -> None:
    seed(api)
    r = api.post("/api/v1/clients/batch", json={"records": [client_rec(i) for i in range(5001)]})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "batch_too_large"
    assert api.get("/api/v1/clients").json()["total"] == 0

"""The roster API end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

BRANCH = {"id": "B1", "version": 1, "name": "Bristol"}
CONTRACT = {"id": "K1", "version": 1, "name": "Council framework", "funder": "council"}


def client_rec(i: int, version: int = 1, **over: Any) -> dict[str, Any]:
    return {"id": f"C{i}", "version": version, "branch_id": "B1", "first_name": "Ada", "last_name": f"L{i}", **over}


def seed(api: TestClient) -> None:
    r = api.post("/api/v1/branches/batch", json={"records": [BRANCH]})
    assert r.status_code == 200, r.text
    assert api.post("/api/v1/contracts/batch", json={"records": [CONTRACT]}).status_code == 200


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

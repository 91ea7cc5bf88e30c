"""A small roster for publishing tests, sent through the roster API; times relative to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.db import Database
from carehub.publishing.service import config
from carehub.publishing.tables import (
    PublishedCarePlan,
    PublishedClient,
    PublishedVisit,
    PublishedVisitWorker,
    PublishedWorker,
)


def at(days: float, hour: int = 9) -> str:
    """An ISO time ``days`` from today at ``hour`` UTC."""
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return (base + timedelta(days=days)).isoformat()


def put(api: TestClient, plural: str, *records: dict[str, Any]) -> dict[str, Any]:
    """Send records through the batch API; every one must be accepted."""
    r = api.post(f"/api/v1/{plural}/batch", json={"records": list(records)})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["rejected"] == 0, body
    return body


def visit(
    n: str,
    *,
    client: str = "C1",
    contract: str = "K1",
    days: float = 1,
    workers: tuple[str, ...] = ("W1",),
    version: int = 1,
    **over: Any,
) -> dict[str, Any]:
    """A visit record, starting ``days`` from now."""
    return {
        "id": n,
        "version": version,
        "client_id": client,
        "contract_id": contract,
        "start": at(days),
        "end": at(days, hour=10),
        "carers_needed": max(1, len(workers)),
        "worker_ids": list(workers),
        **over,
    }


def roster(api: TestClient) -> None:
    """Branch B1; contracts K1 (to be monitored) and K2; group G1; clients C1, C2 (in G1).

    Workers W1 (mobile) and W2 (not mobile); plan visit P1 of C1 on K1. No visits.
    """
    put(api, "branches", {"id": "B1", "version": 1, "name": "Bristol"})
    put(
        api,
        "contracts",
        {"id": "K1", "version": 1, "name": "Council framework", "funder": "council"},
        {"id": "K2", "version": 1, "name": "Private", "funder": "private"},
    )
    put(api, "groups", {"id": "G1", "version": 1, "name": "Morning run", "branch_id": "B1"})
    put(
        api,
        "clients",
        *[
            {
                "id": f"C{i}",
                "version": 1,
                "branch_id": "B1",
                "group_id": "G1",
                "first_name": "Ada",
                "last_name": f"Client{i}",
                "status": "active",
            }
            for i in (1, 2)
        ],
    )
    put(
        api,
        "workers",
        {
            "id": "W1",
            "version": 1,
            "branch_id": "B1",
            "first_name": "Wren",
            "last_name": "Mobile",
            "status": "active",
            "mobile_enabled": True,
        },
        {
            "id": "W2",
            "version": 1,
            "branch_id": "B1",
            "first_name": "Sam",
            "last_name": "Desk",
            "status": "active",
            "mobile_enabled": False,
        },
    )
    put(
        api,
        "plan-visits",
        {
            "id": "P1",
            "version": 1,
            "client_id": "C1",
            "contract_id": "K1",
            "visit_type_code": "PC",
            "visit_type_description": "Personal care",
            "days": "MON,TUE,WED,THU,FRI,SAT,SUN",
            "start_time": "09:00",
            "duration_minutes": 60,
            "carers_needed": 1,
            "starts_on": at(-30)[:10],
        },
    )


def monitor(db: Database, env: int, *contracts: str) -> config.RunResult:
    """Tick contracts as monitored."""
    return config.do_set_monitored(db, SYSTEM, env, list(contracts), monitored=True)


def states(db: Database, kind: str) -> dict[str, str]:
    """External id → published state, for one kind."""
    table = {
        "client": PublishedClient,
        "worker": PublishedWorker,
        "visit": PublishedVisit,
        "care_plan": PublishedCarePlan,
    }[kind]
    with db.read() as session:
        rows = session.execute(select(table.external_id, table.state).order_by(table.id)).all()  # type: ignore[attr-defined]
    return dict(rows)


def visit_workers(db: Database) -> set[tuple[int, int, bool]]:
    """(visit pk, worker pk, active) of every published pair."""
    with db.read() as session:
        rows = session.execute(
            select(PublishedVisitWorker.visit_id, PublishedVisitWorker.worker_id, PublishedVisitWorker.active)
        )
        return {(a, b, c) for a, b, c in rows}

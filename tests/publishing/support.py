"""A small roster for publishing tests, sent through the roster API; times relative to now."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.platform.outbox import OutboxEvent
from carehub.publishing.domain import schedules
from carehub.publishing.service import config
from carehub.publishing.service.explain import Explanation, do_explain
from carehub.publishing.service.runs import RunResult
from carehub.publishing.tables import (
    PublishedCarePlan,
    PublishedClient,
    PublishedVisit,
    PublishedVisitWorker,
    PublishedWorker,
)
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.schemas import SCHEMAS
from carehub.roster.tables import Client, Contract, Group, PlanVisit, Visit, Worker


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


def monitor(db: Database, env: int, *contracts: str) -> RunResult:
    """Tick contracts as monitored."""
    return config.do_set_monitored(db, SYSTEM, env, list(contracts), monitored=True)


def states(db: Database, kind: str, env: int | None = None) -> dict[str, str]:
    """External id → published state, for one kind (the latest revision for care plans); one environment if given."""
    table = {
        "client": PublishedClient,
        "worker": PublishedWorker,
        "visit": PublishedVisit,
        "care_plan": PublishedCarePlan,
    }[kind]
    stmt = select(table.external_id, table.state).order_by(table.id)  # type: ignore[attr-defined]
    if env is not None:
        stmt = stmt.where(table.environment_id == env)  # type: ignore[attr-defined]
    with db.read() as session:
        rows = session.execute(stmt).all()
    return dict(rows)


def visit_workers(db: Database) -> set[tuple[int, int, bool]]:
    """(visit pk, worker pk, active) of every published pair."""
    with db.read() as session:
        rows = session.execute(
            select(PublishedVisitWorker.visit_id, PublishedVisitWorker.worker_id, PublishedVisitWorker.active)
        )
        return {(a, b, c) for a, b, c in rows}


# --- Helpers for the rule and property tests -------------------------------------------------

LONDON = ZoneInfo("Europe/London")


def london_today() -> date:
    """Today in the tenant's zone (the world's tenant is in Europe/London)."""
    return schedules.local_today(utc_now(), LONDON)


def local(days: int, hour: int = 9, minute: int = 0) -> str:
    """An ISO time ``days`` after today, at ``hour:minute`` wall-clock time in Europe/London."""
    moment = datetime.combine(london_today() + timedelta(days=days), time(hour, minute), tzinfo=LONDON)
    return moment.isoformat()


def ok(response: Any) -> dict[str, Any]:
    """The JSON body of a successful call."""
    assert response.status_code in {200, 201}, response.text
    body: dict[str, Any] = response.json()
    return body


def allocate(api: TestClient, visit_id: str, worker_id: str) -> dict[str, Any]:
    """Allocate a worker through the API."""
    return ok(api.post(f"/api/v1/visits/{visit_id}/allocations", json={"worker_id": worker_id}))


def deallocate(api: TestClient, visit_id: str, worker_id: str) -> dict[str, Any]:
    """De-allocate a worker through the API."""
    return ok(api.delete(f"/api/v1/visits/{visit_id}/allocations/{worker_id}"))


def confirm(api: TestClient, visit_id: str) -> dict[str, Any]:
    """Confirm a visit manually through the API."""
    return ok(api.post(f"/api/v1/visits/{visit_id}/confirm"))


def cancel(api: TestClient, visit_id: str, reason: str = "client in hospital") -> dict[str, Any]:
    """Cancel a visit through the API."""
    return ok(api.post(f"/api/v1/visits/{visit_id}/cancel", json={"reason": reason}))


def remove(api: TestClient, plural: str, external_id: str) -> dict[str, Any]:
    """Delete a roster record through the API."""
    return ok(api.delete(f"/api/v1/{plural}/{external_id}"))


def update(api: TestClient, plural: str, external_id: str, **changes: Any) -> dict[str, Any]:
    """Change fields of a stored record with PUT, at the next version."""
    current = ok(api.get(f"/api/v1/{plural}/{external_id}"))
    record = {k: v for k, v in current.items() if k in _FIELDS[plural]}
    record |= changes
    record["version"] = int(current["version"]) + 1
    return ok(api.put(f"/api/v1/{plural}/{external_id}", json=record))


_FIELDS = {plural: {"id", "version", *SCHEMAS[kind].model_fields} for kind in RecordKind for plural in (kind.plural,)}

TABLES: dict[str, Any] = {
    "client": PublishedClient,
    "worker": PublishedWorker,
    "visit": PublishedVisit,
    "care_plan": PublishedCarePlan,
}


def published(db: Database, kind: str, external_id: str) -> Any:
    """The published row of one record (the latest revision for care plans), or None."""
    table = TABLES[kind]
    with db.read() as session:
        stmt = select(table).where(table.external_id == external_id)
        if table is PublishedCarePlan:
            stmt = stmt.order_by(PublishedCarePlan.revision.desc())
        return session.scalars(stmt.limit(1)).first()


def revisions(db: Database, plan_visit: str) -> list[tuple[int, str]]:
    """(revision, state) of every care plan of a plan visit, oldest first."""
    with db.read() as session:
        rows = session.execute(
            select(PublishedCarePlan.revision, PublishedCarePlan.state)
            .where(PublishedCarePlan.external_id == plan_visit)
            .order_by(PublishedCarePlan.revision)
        ).all()
    return [(int(r), str(s)) for r, s in rows]


def events(db: Database, prefix: str = "publishing.") -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every outbox event whose topic starts with ``prefix``, oldest first."""
    with db.read() as session:
        rows = session.execute(
            select(OutboxEvent.topic, OutboxEvent.payload)
            .where(OutboxEvent.topic.startswith(prefix))
            .order_by(OutboxEvent.id)
        ).all()
    return [(str(t), dict(p)) for t, p in rows]


def raw(db: Database, statement: Any) -> None:
    """Write straight to the database (as care planning, or to make drift)."""
    with db.transaction() as session:
        session.execute(statement)


def explain(db: Database, env: int, kind: str, external_id: str, now: datetime | None = None) -> Explanation:
    """Explain one record, as the system."""
    return do_explain(db, SYSTEM, env, kind, external_id, now=now)


ROSTER: dict[str, Any] = {
    "client": Client,
    "worker": Worker,
    "visit": Visit,
    "plan_visit": PlanVisit,
    "contract": Contract,
    "group": Group,
}


def roster_pk(db: Database, kind: str, external_id: str) -> int:
    """The roster primary key of a record."""
    table = ROSTER[kind]
    with db.read() as session:
        pk = session.scalar(select(table.id).where(table.external_id == external_id))
    assert pk is not None, (kind, external_id)
    return int(pk)

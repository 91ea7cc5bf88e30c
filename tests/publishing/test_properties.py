"""Properties of publishing over random rosters and random sequences of roster changes.

Every example builds a small roster in a tenant of its own, then applies a
random sequence of changes through the real roster API and publishing services
(each change publishes at once, in its own transaction). Afterwards:

1. incremental equals full: a full reconcile finds nothing to change;
2. explain (per record, pure rules) agrees with the set-wise published state;
3. every published record satisfies every rule;
4. after a reconcile every eligible record is published.

On SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from carehub.platform.auth import service as auth
from carehub.platform.auth.actor import SYSTEM
from carehub.platform.clock import utc_now
from carehub.platform.db import Database
from carehub.publishing.service import config
from carehub.publishing.service.explain import Explanation, explain_in
from carehub.publishing.service.runs import RunResult
from carehub.roster.tables import Client, PlanVisit, Visit, Worker
from carehub.tenancy import service as tenancy
from tests.publishing.support import at, london_today, states

VISITS = ("V1", "V2", "V3", "V4")
WORKERS = ("W1", "W2", "W3")
CLIENTS = ("C1", "C2", "C3")
PLANS = ("P1", "P2")
CONTRACTS = ("K1", "K2")
GROUPS = ("G1", "G2")
# Days from today: inside the default 7-day window (first: the simplest case), in the past, beyond the
# window (a schedule of 9 or more days reaches 9 and 12; nothing reaches 20).
DAYS = (1, 3, 6, 1, 3, -2, 9, 12, 20)
# Most workers are active and mobile-enabled, so that most visits can publish.
WORKER_STATES = (
    ("active", True),
    ("active", True),
    ("active", True),
    ("active", False),
    ("inactive", True),
    ("left", True),
)
ACTION_OUTCOMES = {200, 201, 404, 409}  # 404: the visit is deleted or unknown; 409: the roster refuses

Op = tuple[Any, ...]


def visit_ops(min_workers: int = 0) -> st.SearchStrategy[Op]:
    """Create or update a visit: client, contract, plan visit, day, workers, spare places."""
    return st.tuples(
        st.just("visit"),
        st.sampled_from(VISITS),
        st.sampled_from(CLIENTS),
        st.sampled_from(CONTRACTS),
        st.sampled_from((*PLANS, None)),
        st.sampled_from(DAYS),
        st.lists(st.sampled_from(WORKERS), unique=True, min_size=min_workers, max_size=2).map(tuple),
        st.integers(0, 1),  # extra carers needed, so that a worker can be allocated later
    )


allocate = st.tuples(st.just("allocate"), st.sampled_from(VISITS), st.sampled_from(WORKERS))
worker_change = st.tuples(st.just("worker"), st.sampled_from(WORKERS), st.sampled_from(WORKER_STATES))
client_change = st.tuples(
    st.just("client"), st.sampled_from(CLIENTS), st.sampled_from(("inactive", "active")), st.sampled_from(GROUPS)
)
# Changes, the likelier ones listed twice.
ops = st.one_of(
    visit_ops(),
    visit_ops(min_workers=1),
    allocate,
    allocate,
    st.tuples(st.just("deallocate"), st.sampled_from(VISITS), st.sampled_from(WORKERS)),
    st.tuples(st.just("confirm"), st.sampled_from(VISITS)),
    st.tuples(st.just("cancel"), st.sampled_from(VISITS)),
    st.tuples(st.just("delete_visit"), st.sampled_from(VISITS)),
    worker_change,
    worker_change,
    client_change,
    client_change,
    st.tuples(
        st.just("plan"),
        st.sampled_from(PLANS),
        st.sampled_from(CLIENTS),
        st.sampled_from(CONTRACTS),
        st.sampled_from(("Personal care", None, " ")),
        st.sampled_from(("MON,WED", "TUE")),
    ),
    st.tuples(st.just("delete_plan"), st.sampled_from(PLANS)),
    st.tuples(st.just("monitor"), st.sampled_from(CONTRACTS), st.sampled_from((True, False))),
    st.tuples(st.just("schedule"), st.sampled_from(GROUPS), st.integers(0, 14)),
)
scenarios = st.tuples(
    st.booleans(),  # K2 is monitored from the start too (K1 always is)
    st.lists(st.sampled_from(WORKER_STATES), min_size=len(WORKERS), max_size=len(WORKERS)),
    st.lists(visit_ops(min_workers=1), min_size=2, max_size=4),  # the first visits
    st.lists(ops, min_size=3, max_size=16),  # the changes
)

_tenants = itertools.count(1)


@dataclass
class Roster:
    """One environment of its own, driven through the roster API with its own token."""

    api: TestClient
    db: Database
    env: int
    headers: dict[str, str]
    versions: Counter[str] = field(default_factory=Counter)
    live_plans: set[str] = field(default_factory=set)  # plan visits that exist and are not deleted

    @classmethod
    def create(cls, api: TestClient, db: Database) -> Roster:
        tenant, env = tenancy.do_create_tenant(db, SYSTEM, name=f"Property {next(_tenants)}", timezone="Europe/London")
        _, token = auth.do_create_token(db, SYSTEM, tenant_id=tenant.id, environment_id=env.id, name="roster")
        return cls(api, db, env.id, {"Authorization": f"Bearer {token}"})

    def put(self, plural: str, record: dict[str, Any]) -> None:
        key = f"{plural}/{record['id']}"
        self.versions[key] += 1
        r = self.api.put(f"/api/v1/{key}", json={**record, "version": self.versions[key]}, headers=self.headers)
        assert r.status_code in {200, 201}, r.text

    def action(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        r = self.api.request(method, f"/api/v1/{path}", json=body, headers=self.headers)
        assert r.status_code in ACTION_OUTCOMES, r.text
        note(f"  {method} {path} -> {r.status_code}")

    def worker(self, n: str, status: str, mobile: bool) -> None:
        self.put(
            "workers",
            {
                "id": n,
                "branch_id": "B1",
                "first_name": "Wren",
                "last_name": n,
                "status": status,
                "mobile_enabled": mobile,
            },
        )

    def client(self, n: str, status: str, group: str) -> None:
        self.put(
            "clients",
            {"id": n, "branch_id": "B1", "group_id": group, "first_name": "Ada", "last_name": n, "status": status},
        )

    def plan(self, n: str, client: str, contract: str, description: str | None, days: str) -> None:
        self.live_plans.add(n)
        self.put(
            "plan-visits",
            {
                "id": n,
                "client_id": client,
                "contract_id": contract,
                "visit_type_code": "PC",
                "visit_type_description": description,
                "days": days,
                "start_time": "09:00",
                "duration_minutes": 30,
                "carers_needed": 1,
                "starts_on": london_today().isoformat(),
            },
        )

    def build(self, monitored: list[str], workers: list[tuple[str, bool]], first_visits: list[Op]) -> None:
        """Branch, contracts, groups, clients C1-C3 (C3 in G2), workers W1-W3, plan visit P1, monitored contracts.

        Then the first visits.
        """
        self.put("branches", {"id": "B1", "name": "Bristol"})
        for k in CONTRACTS:
            self.put("contracts", {"id": k, "name": f"Contract {k}", "funder": "council"})
        for g in GROUPS:
            self.put("groups", {"id": g, "name": f"Run {g}", "branch_id": "B1"})
        for c in CLIENTS:
            self.client(c, "active", "G2" if c == "C3" else "G1")
        for w, (status, mobile) in zip(WORKERS, workers, strict=True):
            self.worker(w, status, mobile)
        self.plan("P1", "C1", "K1", "Personal care", "MON,WED")
        config.do_set_monitored(self.db, SYSTEM, self.env, monitored, monitored=True)
        for op in first_visits:
            self.apply(op)

    def apply(self, op: Op) -> None:  # noqa: C901, PLR0912 - one branch per kind of change
        note(repr(op))
        match op:
            case ("visit", v, client, contract, plan, days, workers, extra):
                self.put(
                    "visits",
                    {
                        "id": v,
                        "client_id": client,
                        "contract_id": contract,
                        "plan_visit_id": plan if plan in self.live_plans else None,
                        "start": at(days),
                        "end": at(days, hour=10),
                        "carers_needed": max(1, len(workers) + extra),
                        "worker_ids": list(workers),
                    },
                )
            case ("allocate", v, w):
                self.action("POST", f"visits/{v}/allocations", {"worker_id": w})
            case ("deallocate", v, w):
                self.action("DELETE", f"visits/{v}/allocations/{w}")
            case ("confirm", v):
                self.action("POST", f"visits/{v}/confirm")
            case ("cancel", v):
                self.action("POST", f"visits/{v}/cancel", {"reason": "hospital"})
            case ("delete_visit", v):
                self.action("DELETE", f"visits/{v}")
            case ("worker", w, (status, mobile)):
                self.worker(w, status, mobile)
            case ("client", c, status, group):
                self.client(c, status, group)
            case ("plan", p, client, contract, description, days):
                self.plan(p, client, contract, description, days)
            case ("delete_plan", p):
                self.action("DELETE", f"plan-visits/{p}")
                self.live_plans.discard(p)
            case ("monitor", k, on):
                config.do_set_monitored(self.db, SYSTEM, self.env, [k], monitored=on)
            case ("schedule", g, ahead):
                config.do_publish_schedule(self.db, SYSTEM, self.env, [g], london_today() + timedelta(days=ahead))
            case _:
                raise AssertionError(op)

    def records(self) -> list[tuple[str, str]]:
        """(explain kind, external id) of every roster record that the rules judge, deleted ones included."""
        out: list[tuple[str, str]] = []
        with self.db.read() as session:
            for kind, model in (("client", Client), ("worker", Worker), ("visit", Visit), ("plan_visit", PlanVisit)):
                ids = session.scalars(select(model.external_id).where(model.environment_id == self.env)).all()
                out.extend((kind, str(i)) for i in sorted(ids))
        return out

    def explained(self) -> list[tuple[Explanation, str | None]]:
        """Every record's explanation and its published copy's state (the latest care plan for plan visits)."""
        published = {
            kind: states(self.db, "care_plan" if kind == "plan_visit" else kind, self.env)
            for kind in ("client", "worker", "visit", "plan_visit")
        }
        now = utc_now()
        with self.db.transaction() as session:
            return [
                (explain_in(session, self.env, kind, ext, now), published[kind].get(ext))
                for kind, ext in self.records()
            ]

    def reconcile(self, *, preview: bool = False) -> RunResult:
        return config.do_reconcile(self.db, SYSTEM, self.env, preview=preview)


def _explain_agrees(roster: Roster) -> None:
    """Explain's verdict on every record is its published copy's state: active exactly when it publishes."""
    for answer, state in roster.explained():
        label = f"{answer.kind} {answer.id}: explain says publishes={answer.publishes}, published copy {state}"
        assert answer.publishes == (state == "active"), (label, _failed(answer))
        assert answer.published == state, label


def _failed(e: Explanation) -> list[str]:
    return [f"{c.rule}: {c.detail}" for c in e.checks if not c.passed] + e.notes


def examples(backend: str) -> settings:
    """Modest runs: each example builds a roster and makes a dozen real roster calls."""
    return settings(
        max_examples=25 if backend == "sqlite" else 10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _build(api: TestClient, db: Database, scenario: tuple[Any, ...]) -> tuple[Roster, list[Op]]:
    k2, workers, first_visits, sequence = scenario
    roster = Roster.create(api, db)
    monitored = ["K1", "K2"] if k2 else ["K1"]
    note(f"monitored at the start: {monitored}; workers: {workers}")
    roster.build(monitored, workers, first_visits)
    note("changes:")
    return roster, sequence


def test_property_incremental_publishing_agrees_with_full_reconcile(
    api: TestClient, db: Database, backend: str
) -> None:
    @examples(backend)
    @given(scenarios)
    def check(scenario: tuple[Any, ...]) -> None:
        roster, sequence = _build(api, db, scenario)
        assert roster.reconcile(preview=True).changes == 0
        for op in sequence:
            roster.apply(op)
            # After every change, published at once, a full run would change nothing.
            drift = roster.reconcile(preview=True)
            assert drift.changes == 0, drift.as_dict()["sample"]
        result = roster.reconcile()
        assert result.changes == 0, result.as_dict()["sample"]

    check()


def test_property_explain_agrees_with_set_wise_evaluation(api: TestClient, db: Database, backend: str) -> None:
    @examples(backend)
    @given(scenarios)
    def check(scenario: tuple[Any, ...]) -> None:
        roster, sequence = _build(api, db, scenario)
        _explain_agrees(roster)
        for op in sequence:
            roster.apply(op)
            _explain_agrees(roster)  # after every change, published at once

    check()


def test_property_every_published_record_satisfies_its_rules_and_every_eligible_one_is_published(
    api: TestClient, db: Database, backend: str
) -> None:
    @examples(backend)
    @given(scenarios)
    def check(scenario: tuple[Any, ...]) -> None:
        roster, sequence = _build(api, db, scenario)
        for op in sequence:
            roster.apply(op)
            roster.reconcile()
            for answer, state in roster.explained():
                if state == "active":
                    assert all(c.passed for c in answer.checks), (answer.kind, answer.id, _failed(answer))
                    assert not answer.notes, (answer.kind, answer.id, answer.notes)
                if answer.publishes:
                    assert state == "active", (answer.kind, answer.id, state)

    check()

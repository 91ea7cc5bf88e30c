"""Explain, rule by rule: for each of the 13 rules a record failing it is explained with its values and fix.

Through the real API (``GET /api/v1/explain/{kind}/{id}``) on SQLite and
PostgreSQL. Each record below fails exactly the rule it is named after (a
client linked to nothing is, of necessity, linked to no monitored contract
either), and the answer names the actual values: contract ids, window dates,
worker and visit ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from carehub.platform.db import Database
from carehub.publishing.domain import schedules
from carehub.publishing.domain.catalogue import BY_ID, RULES
from tests.conftest import World
from tests.publishing.support import (
    LONDON,
    allocate,
    confirm,
    london_today,
    monitor,
    ok,
    put,
    roster,
    states,
    visit,
)

KEYS = {"kind", "id", "publishes", "checks"}
CHECK_KEYS = {"rule", "passed", "detail", "fix"}


def worker(n: str, **over: Any) -> dict[str, Any]:
    return {
        "id": n,
        "version": 1,
        "branch_id": "B1",
        "first_name": "Wren",
        "last_name": n,
        "status": "active",
        "mobile_enabled": True,
        **over,
    }


def client(n: str, **over: Any) -> dict[str, Any]:
    return {"id": n, "version": 1, "branch_id": "B1", "group_id": "G1", "first_name": "Ada", "last_name": n, **over}


def plan_visit(n: str, contract: str, description: str | None) -> dict[str, Any]:
    return {
        "id": n,
        "version": 1,
        "client_id": "C1",
        "contract_id": contract,
        "visit_type_code": "PC",
        "visit_type_description": description,
        "days": "MON,WED",
        "start_time": "09:00",
        "duration_minutes": 30,
        "starts_on": london_today().isoformat(),
    }


def local_text(moment: datetime) -> str:
    """A moment as explain writes it for people: in the tenant's zone (London), e.g. ``Mon 7 Dec 2026 08:00 GMT``."""
    local = moment.astimezone(LONDON)
    return f"{local:%a} {local.day} {local:%b} {local.year} {local:%H}:{local:%M} {local.tzname()}"


def window_text() -> tuple[str, str]:
    """The default window's start and end as explain writes them (tenant's zone, to the minute)."""
    today = london_today()
    w = schedules.window(today, today + timedelta(days=7), LONDON)
    return local_text(w.start), local_text(w.end)


def one_failing_record_per_rule(api: TestClient, db: Database, world: World) -> dict[str, tuple[str, str, set[str]]]:
    """Build a roster where each rule has a record failing it; rule → (API kind, id, rules that fail)."""
    roster(api)
    put(api, "clients", client("C-inactive", status="inactive"), client("C-k2"), client("C-alone"))
    put(api, "workers", worker("W-inactive", status="inactive"), worker("W-later"))
    put(api, "plan-visits", plan_visit("P-k2", "K2", "Personal care"), plan_visit("P-nodesc", "K1", None))
    monitor(db, world.env.id, "K1")
    put(
        api,
        "visits",
        visit("V-ci", client="C-inactive"),
        visit("V-ck2", client="C-k2", contract="K2"),
        visit("V-wi", workers=("W-inactive",)),
        visit("V-w2", workers=("W2",)),
        visit("V-wl", workers=("W-later",), days=10),
        visit("V-k2", contract="K2"),
        visit("V-later", days=10),
        visit("V-conf", workers=()),
        visit("V-pk2", plan_visit_id="P-k2"),
        visit("V-pnd", plan_visit_id="P-nodesc"),
    )
    confirm(api, "V-conf")
    allocate(api, "V-conf", "W1")  # every rule but the confirmation passes now
    return {
        "client.active": ("client", "C-inactive", {"client.active"}),
        "client.monitored_contract": ("client", "C-k2", {"client.monitored_contract"}),
        "client.linked": ("client", "C-alone", {"client.monitored_contract", "client.linked"}),
        "worker.active": ("worker", "W-inactive", {"worker.active"}),
        "worker.mobile_enabled": ("worker", "W2", {"worker.mobile_enabled"}),
        "worker.allocated_in_window": ("worker", "W-later", {"worker.allocated_in_window"}),
        "visit.monitored_contract": ("visit", "V-k2", {"visit.monitored_contract"}),
        "visit.in_window": ("visit", "V-later", {"visit.in_window"}),
        "visit.mobile_worker": ("visit", "V-w2", {"visit.mobile_worker"}),
        "visit.not_confirmed_before_publish": ("visit", "V-conf", {"visit.not_confirmed_before_publish"}),
        "plan_visit.monitored_contract": ("plan-visit", "P-k2", {"plan_visit.monitored_contract"}),
        "plan_visit.visit_published": ("plan-visit", "P1", {"plan_visit.visit_published"}),
        "plan_visit.has_description": ("plan-visit", "P-nodesc", {"plan_visit.has_description"}),
    }


def test_rule_explain_names_the_failing_rule_its_values_and_fix_for_each_of_the_13_rules(
    api: TestClient, db: Database, world: World
) -> None:
    cases = one_failing_record_per_rule(api, db, world)
    assert set(cases) == {r.id for r in RULES}
    start, end = window_text()
    later = local_text(datetime.fromisoformat(visit("x", days=10)["start"]))
    # What each failing detail must name: the actual contract, window, workers, visits.
    expected_detail = {
        "client.active": ["status is inactive"],
        "client.monitored_contract": ["not monitored", "K2"],
        "client.linked": ["0 plan visit(s), 0 allocated visit(s)"],
        "worker.active": ["status is inactive"],
        "worker.mobile_enabled": ["not enabled as a mobile care worker"],
        "worker.allocated_in_window": ["V-wl"],
        "visit.monitored_contract": ["contract K2 is not monitored"],
        "visit.in_window": [later, start, end, "G1"],
        "visit.mobile_worker": ["W2 (not mobile-enabled)"],
        "visit.not_confirmed_before_publish": ["confirmed manually at", "before it was ever published"],
        "plan_visit.monitored_contract": ["contract K2 is not monitored"],
        "plan_visit.visit_published": ["0 of its visits published"],
        "plan_visit.has_description": ["visit type PC has no description"],
    }
    for rule, (kind, external_id, failing) in cases.items():
        answer = ok(api.get(f"/api/v1/explain/{kind}/{external_id}"))
        assert set(answer) >= KEYS, answer
        assert (answer["kind"], answer["id"], answer["publishes"]) == (kind.replace("-", "_"), external_id, False)
        assert all(set(c) == CHECK_KEYS for c in answer["checks"]), answer
        by_rule = {c["rule"]: c for c in answer["checks"]}
        assert [c["rule"] for c in answer["checks"]] == [r.id for r in RULES if r.kind == kind.replace("-", "_")]
        assert {r for r, c in by_rule.items() if not c["passed"]} == failing, (rule, answer)
        check = by_rule[rule]
        assert check["fix"] == BY_ID[rule].fix, rule
        for text in expected_detail[rule]:
            assert text in check["detail"], (rule, text, check["detail"])
        for passed in (c for c in answer["checks"] if c["passed"]):
            assert passed["fix"] is None
        assert answer["published_state"] is None, (rule, answer)


def test_rule_explain_of_a_published_record_passes_every_rule(api: TestClient, db: Database, world: World) -> None:
    roster(api)
    monitor(db, world.env.id, "K1")
    put(api, "visits", visit("V1", plan_visit_id="P1"))
    assert states(db, "care_plan") == {"P1": "active"}
    for kind, external_id in (("client", "C1"), ("worker", "W1"), ("visit", "V1"), ("plan-visit", "P1")):
        answer = ok(api.get(f"/api/v1/explain/{kind}/{external_id}"))
        assert answer["publishes"] is True, answer
        assert answer["published_state"] == "active"
        assert all(c["passed"] and c["fix"] is None for c in answer["checks"]), answer
    worker_answer = ok(api.get("/api/v1/explain/worker/W1"))
    assert "W1" not in worker_answer["checks"][2]["detail"]  # it names visits, not the worker itself
    assert "V1" in worker_answer["checks"][2]["detail"]
    assert worker_answer["info"] == ["care-planning username: wmobile"]
    visit_answer = ok(api.get("/api/v1/explain/visit/V1"))
    assert "mobile-enabled worker(s): W1" in visit_answer["checks"][2]["detail"]

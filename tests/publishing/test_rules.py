"""Each publishing rule of seed 000, as a pure function, named after the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carehub.publishing.domain.catalogue import RULES, rules_for
from carehub.publishing.domain.evaluate import (
    Check,
    ClientFacts,
    PlanVisitFacts,
    VisitFacts,
    Window,
    WorkerFacts,
    WorkerOnVisit,
    evaluate_client,
    evaluate_plan_visit,
    evaluate_visit,
    evaluate_worker,
    publishes,
)
from carehub.publishing.domain.schedules import ScheduleError, check_publish_until, window

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WIN = Window(NOW - timedelta(hours=9), NOW + timedelta(days=7))
MOBILE = WorkerOnVisit("W1", active=True, mobile_enabled=True)


def visit(**over: object) -> VisitFacts:
    base: dict[str, object] = {
        "id": "V1",
        "contract_id": "K1",
        "contract_monitored": True,
        "start_at": NOW + timedelta(days=1),
        "group": "G1",
        "window": WIN,
        "workers": (MOBILE,),
        "confirmed_at": None,
        "first_published_at": None,
    }
    return VisitFacts(**{**base, **over})  # type: ignore[arg-type]


def failed(checks: list[Check]) -> set[str]:
    return {c.rule for c in checks if not c.passed}


def test_rule_ids_are_the_thirteen_of_seed_000() -> None:
    assert [r.id for r in RULES] == [
        "client.active",
        "client.monitored_contract",
        "client.linked",
        "worker.active",
        "worker.mobile_enabled",
        "worker.allocated_in_window",
        "visit.monitored_contract",
        "visit.in_window",
        "visit.mobile_worker",
        "visit.not_confirmed_before_publish",
        "plan_visit.monitored_contract",
        "plan_visit.visit_published",
        "plan_visit.has_description",
    ]
    assert all(r.fix for r in RULES)


def test_visit_publishes_when_every_rule_holds() -> None:
    checks = evaluate_visit(visit())
    assert publishes(checks)
    assert [c.rule for c in checks] == [r.id for r in rules_for("visit")]
    assert all(c.fix is None for c in checks)


def test_visit_monitored_contract() -> None:
    checks = evaluate_visit(visit(contract_monitored=False))
    assert failed(checks) == {"visit.monitored_contract"}
    c = checks[0]
    assert "K1" in c.detail
    assert c.fix is not None
    assert "Monitored contracts" in c.fix


def test_visit_in_window() -> None:
    assert failed(evaluate_visit(visit(start_at=NOW + timedelta(days=8)))) == {"visit.in_window"}
    assert failed(evaluate_visit(visit(window=None))) == {"visit.in_window"}
    assert failed(evaluate_visit(visit(start_at=WIN.end))) == {"visit.in_window"}
    assert not failed(evaluate_visit(visit(start_at=WIN.start)))


def test_visit_mobile_worker() -> None:
    assert failed(evaluate_visit(visit(workers=()))) == {"visit.mobile_worker"}
    not_mobile = WorkerOnVisit("W2", active=True, mobile_enabled=False)
    checks = evaluate_visit(visit(workers=(not_mobile,)))
    assert failed(checks) == {"visit.mobile_worker"}
    assert "W2 (not mobile-enabled)" in checks[2].detail
    assert not failed(evaluate_visit(visit(workers=(not_mobile, MOBILE))))


def test_visit_not_confirmed_before_publish() -> None:
    early = evaluate_visit(visit(confirmed_at=NOW, first_published_at=None))
    assert failed(early) == {"visit.not_confirmed_before_publish"}
    before = evaluate_visit(visit(confirmed_at=NOW, first_published_at=NOW + timedelta(minutes=1)))
    assert failed(before) == {"visit.not_confirmed_before_publish"}
    after = evaluate_visit(visit(confirmed_at=NOW, first_published_at=NOW - timedelta(hours=1)))
    assert not failed(after)


def client(**over: object) -> ClientFacts:
    base: dict[str, object] = {
        "id": "C1",
        "status": "active",
        "plan_visit_contracts": (("K1", True),),
        "allocated_visit_contracts": (),
    }
    return ClientFacts(**{**base, **over})  # type: ignore[arg-type]


def test_client_active() -> None:
    assert failed(evaluate_client(client(status="inactive"))) == {"client.active"}


def test_client_monitored_contract() -> None:
    checks = evaluate_client(client(plan_visit_contracts=(("K9", False),)))
    assert failed(checks) == {"client.monitored_contract"}
    assert "K9" in checks[1].detail


def test_client_linked() -> None:
    checks = evaluate_client(client(plan_visit_contracts=()))
    assert failed(checks) == {"client.linked", "client.monitored_contract"}
    assert not failed(evaluate_client(client(plan_visit_contracts=(), allocated_visit_contracts=(("K1", True),))))


def worker(**over: object) -> WorkerFacts:
    base: dict[str, object] = {
        "id": "W1",
        "status": "active",
        "mobile_enabled": True,
        "visits_in_window_on_monitored": ("V1",),
        "allocated_visits": 1,
    }
    return WorkerFacts(**{**base, **over})  # type: ignore[arg-type]


def test_worker_active() -> None:
    assert failed(evaluate_worker(worker(status="left"))) == {"worker.active"}


def test_worker_mobile_enabled() -> None:
    assert failed(evaluate_worker(worker(mobile_enabled=False))) == {"worker.mobile_enabled"}


def test_worker_allocated_in_window() -> None:
    checks = evaluate_worker(worker(visits_in_window_on_monitored=(), allocated_visits=3))
    assert failed(checks) == {"worker.allocated_in_window"}
    assert "3 visit(s)" in checks[2].detail


def test_worker_allocated_in_window_through_visits_the_reader_may_not_see_passes_without_naming_them() -> None:
    only_hidden = evaluate_worker(
        worker(visits_in_window_on_monitored=(), allocated_visits=0, qualifying_elsewhere=True)
    )
    assert not failed(only_hidden)
    assert only_hidden[2].detail == "allocated to visits of other branches in window on monitored contracts"
    both = evaluate_worker(worker(qualifying_elsewhere=True))
    assert both[2].detail == "allocated to 1 visit(s) in window on monitored contracts: V1"


def test_explained_times_are_in_the_tenant_s_zone_for_people() -> None:
    london = ZoneInfo("Europe/London")
    winter = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    checks = evaluate_visit(visit(start_at=winter, window=None, zone=london, confirmed_at=NOW))
    assert checks[1].detail == "starts Mon 7 Dec 2026 08:00 GMT; group G1 has no publish window"
    assert checks[3].detail == "confirmed manually at Mon 23 Nov 2026 09:00 GMT, before it was ever published"
    summer = Window(datetime(2026, 7, 5, 23, 0, tzinfo=UTC), datetime(2026, 7, 12, 23, 0, tzinfo=UTC))
    checks = evaluate_visit(visit(start_at=datetime(2026, 7, 6, 7, 30, tzinfo=UTC), window=summer, zone=london))
    assert checks[1].detail == (
        "starts Mon 6 Jul 2026 08:30 BST; window of group G1 is Mon 6 Jul 2026 00:00 BST to Mon 13 Jul 2026 00:00 BST"
    )


def plan_visit(**over: object) -> PlanVisitFacts:
    base: dict[str, object] = {
        "id": "P1",
        "contract_id": "K1",
        "contract_monitored": True,
        "visit_type_code": "PERS",
        "visit_type_description": "Personal care",
        "published_visits": 2,
    }
    return PlanVisitFacts(**{**base, **over})  # type: ignore[arg-type]


def test_plan_visit_monitored_contract() -> None:
    assert failed(evaluate_plan_visit(plan_visit(contract_monitored=False))) == {"plan_visit.monitored_contract"}


def test_plan_visit_visit_published() -> None:
    assert failed(evaluate_plan_visit(plan_visit(published_visits=0))) == {"plan_visit.visit_published"}


@pytest.mark.parametrize("description", [None, "", "   "])
def test_plan_visit_has_description(description: str | None) -> None:
    checks = evaluate_plan_visit(plan_visit(visit_type_description=description))
    assert failed(checks) == {"plan_visit.has_description"}
    assert "PERS has no description" in checks[2].detail


def test_publish_schedule_at_most_fourteen_days_ahead() -> None:
    today = date(2026, 11, 22)
    check_publish_until(today, today + timedelta(days=14))
    with pytest.raises(ScheduleError, match="more than 14 days ahead; the latest allowed is 2026-12-06"):
        check_publish_until(today, today + timedelta(days=15))
    with pytest.raises(ScheduleError, match="in the past"):
        check_publish_until(today, today - timedelta(days=1))


def test_publish_window_is_local_days_across_dst() -> None:
    london = ZoneInfo("Europe/London")
    w = window(date(2026, 10, 24), date(2026, 10, 25), london)
    assert w.start == datetime(2026, 10, 23, 23, 0, tzinfo=UTC)  # midnight BST
    assert w.end == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # midnight GMT: a 49-hour window


@given(
    monitored=st.booleans(),
    offset_hours=st.integers(-48, 24 * 20),
    workers=st.lists(st.tuples(st.booleans(), st.booleans()), max_size=3),
    confirmed=st.sampled_from(["never", "before", "after"]),
)
def test_a_visit_publishes_exactly_when_all_four_conditions_hold(
    monitored: bool, offset_hours: int, workers: list[tuple[bool, bool]], confirmed: str
) -> None:
    start = NOW + timedelta(hours=offset_hours)
    allocated = tuple(WorkerOnVisit(f"W{i}", active=a, mobile_enabled=m) for i, (a, m) in enumerate(workers))
    published_at = NOW - timedelta(hours=1)
    confirmed_at = {"never": None, "before": published_at - timedelta(minutes=5), "after": NOW}[confirmed]
    facts = visit(
        contract_monitored=monitored,
        start_at=start,
        workers=allocated,
        confirmed_at=confirmed_at,
        first_published_at=published_at,
    )
    expected = monitored and WIN.start <= start < WIN.end and any(a and m for a, m in workers) and confirmed != "before"
    checks = evaluate_visit(facts)
    assert publishes(checks) == expected
    assert all((c.fix is None) == c.passed for c in checks)

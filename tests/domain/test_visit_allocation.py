"""Visit rules: allocating workers, confirming and cancelling, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carehub.roster.domain.kinds import LOAD_ORDER, REFERENCES, RecordKind
from carehub.roster.domain.visits import VisitState, can_allocate, can_cancel, can_confirm

PROPERTY = settings(max_examples=300, database=None, deadline=None)
WORKERS = ["W1", "W2", "W3", "W4", "W5"]
CONFIRMED = datetime(2026, 3, 29, 9, tzinfo=UTC)

visits = st.builds(
    VisitState,
    external_id=st.just("V1"),
    status=st.sampled_from(["scheduled", "cancelled"]),
    carers_needed=st.integers(1, 4),
    allocated=st.frozensets(st.sampled_from(WORKERS), max_size=4),
    confirmed_at=st.none() | st.just(CONFIRMED),
)
worker_statuses = st.sampled_from(["active", "inactive", "left"])


def visit(
    carers_needed: int = 1, allocated: tuple[str, ...] = (), status: str = "scheduled", confirmed: bool = False
) -> VisitState:
    return VisitState("V1", status, carers_needed, frozenset(allocated), CONFIRMED if confirmed else None)


@PROPERTY
@given(v=visits, worker=st.sampled_from(WORKERS), worker_status=worker_statuses)
def test_can_allocate_exactly_when_scheduled_not_left_and_a_place_is_free_or_already_held(
    v: VisitState, worker: str, worker_status: str
) -> None:
    violation = can_allocate(v, worker, worker_status)
    allowed = (
        v.status != "cancelled"
        and worker_status != "left"
        and (worker in v.allocated or len(v.allocated) < v.carers_needed)
    )
    assert (violation is None) == allowed
    if violation is not None:
        expected = (
            "visit_cancelled" if v.status == "cancelled" else "worker_left" if worker_status == "left" else "visit_full"
        )
        assert violation.code == expected


def test_a_double_up_takes_two_and_refuses_a_third() -> None:
    assert can_allocate(visit(2), "W1", "active") is None
    assert can_allocate(visit(2, ("W1",)), "W2", "active") is None
    full = can_allocate(visit(2, ("W1", "W2")), "W3", "active")
    assert full is not None
    assert (full.field, full.value, full.code) == ("worker_id", "W3", "visit_full")
    assert "needs 2 carer(s) and already has 2" in full.reason


def test_an_already_allocated_worker_fits_a_full_visit() -> None:
    assert can_allocate(visit(1, ("W1",)), "W1", "active") is None


def test_a_left_worker_and_a_cancelled_visit_are_refused_with_their_reason() -> None:
    left = can_allocate(visit(), "W1", "left")
    assert left is not None
    assert (left.field, left.value, left.code) == ("worker_id", "W1", "worker_left")
    cancelled = can_allocate(visit(status="cancelled"), "W1", "active")
    assert cancelled is not None
    assert (cancelled.field, cancelled.value, cancelled.code) == ("visit_id", "V1", "visit_cancelled")
    assert can_allocate(visit(), "W1", "inactive") is None


@PROPERTY
@given(v=visits)
def test_can_confirm_unless_cancelled(v: VisitState) -> None:
    violation = can_confirm(v)
    assert (violation is None) == (v.status != "cancelled")
    if violation:
        assert violation.code == "visit_cancelled"


@PROPERTY
@given(v=visits)
def test_can_cancel_unless_confirmed_and_not_already_cancelled(v: VisitState) -> None:
    violation = can_cancel(v)
    assert (violation is None) == (v.confirmed_at is None or v.status == "cancelled")
    if violation:
        assert violation.code == "visit_confirmed"
        assert CONFIRMED.isoformat() in violation.reason


def test_record_kinds_plural_round_trips_and_load_order_puts_references_first() -> None:
    for kind in RecordKind:
        assert RecordKind.from_plural(kind.plural) is kind
    assert [k.plural for k in LOAD_ORDER] == [
        "branches",
        "groups",
        "contracts",
        "clients",
        "workers",
        "plan-visits",
        "visits",
    ]
    for position, kind in enumerate(LOAD_ORDER):
        for ref in REFERENCES[kind]:
            assert LOAD_ORDER.index(ref.kind) < position, (kind, ref)
    with pytest.raises(ValueError, match="expected one of branches, groups"):
        RecordKind.from_plural("visit")

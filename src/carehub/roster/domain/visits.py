"""Rules for allocating, confirming and cancelling visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from carehub.roster.domain.rules import Violation


@dataclass(frozen=True, slots=True)
class VisitState:
    """What the rules need to know about a stored visit."""

    external_id: str
    status: str
    carers_needed: int
    allocated: frozenset[str]
    confirmed_at: datetime | None


def can_allocate(visit: VisitState, worker_id: str, worker_status: str) -> Violation | None:
    """A worker can be allocated to a scheduled visit with a free place, if not already left."""
    if visit.status == "cancelled":
        return Violation("visit_id", visit.external_id, "visit is cancelled; it cannot be allocated", "visit_cancelled")
    if worker_status == "left":
        return Violation("worker_id", worker_id, "worker has left; allocate an active worker", "worker_left")
    if worker_id not in visit.allocated and len(visit.allocated) >= visit.carers_needed:
        return Violation(
            "worker_id",
            worker_id,
            f"visit needs {visit.carers_needed} carer(s) and already has {len(visit.allocated)}: de-allocate one first",
            "visit_full",
        )
    return None


def can_confirm(visit: VisitState) -> Violation | None:
    """Only a scheduled visit can be confirmed."""
    if visit.status == "cancelled":
        return Violation("visit_id", visit.external_id, "visit is cancelled; it cannot be confirmed", "visit_cancelled")
    return None


def can_cancel(visit: VisitState) -> Violation | None:
    """A confirmed (delivered) visit cannot be cancelled."""
    if visit.confirmed_at is not None and visit.status != "cancelled":
        return Violation(
            "visit_id",
            visit.external_id,
            f"visit was confirmed at {visit.confirmed_at.isoformat()}; a confirmed visit cannot be cancelled",
            "visit_confirmed",
        )
    return None

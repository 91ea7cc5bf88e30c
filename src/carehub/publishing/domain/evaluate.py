"""Evaluating the publishing rules for one record from its facts.

The facts are plain values gathered by the service layer; each evaluator
returns one :class:`Check` per rule of the record's kind, passed or failed,
with the actual values involved. A record publishes when every check passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from carehub.publishing.domain.catalogue import BY_ID


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one rule for one record."""

    rule: str
    passed: bool
    detail: str
    fix: str | None

    def as_dict(self) -> dict[str, object]:
        """The JSON shape used by explain."""
        return {"rule": self.rule, "passed": self.passed, "detail": self.detail, "fix": self.fix}


def check(rule: str, passed: bool, detail: str) -> Check:
    """A check of ``rule``; the fix hint is attached only when it failed."""
    return Check(rule, passed, detail, None if passed else BY_ID[rule].fix)


def publishes(checks: Sequence[Check]) -> bool:
    """A record publishes when every rule passes."""
    return all(c.passed for c in checks)


@dataclass(frozen=True, slots=True)
class Window:
    """A publish window in UTC, half-open: ``start <= t < end``."""

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        """True when ``moment`` falls inside the window."""
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True)
class WorkerOnVisit:
    """An allocated worker, as a visit's rules see them."""

    id: str
    active: bool
    mobile_enabled: bool


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """What the visit rules need."""

    id: str
    contract_id: str
    contract_monitored: bool
    start_at: datetime
    group: str | None
    window: Window | None
    workers: tuple[WorkerOnVisit, ...]
    confirmed_at: datetime | None
    first_published_at: datetime | None
    # The environment's time zone, for the times in the details.
    zone: tzinfo = UTC


def when(moment: datetime, zone: tzinfo = UTC) -> str:
    """A moment for people, in ``zone``: ``Mon 7 Dec 2026 08:00 GMT``."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname() or local.strftime('%z')}"


def evaluate_visit(v: VisitFacts) -> list[Check]:
    """The four visit rules."""
    if v.window is None:
        window_detail = f"starts {when(v.start_at, v.zone)}; group {v.group or '(none)'} has no publish window"
        in_window = False
    else:
        in_window = v.window.contains(v.start_at)
        window_detail = (
            f"starts {when(v.start_at, v.zone)}; window of group {v.group or '(none)'} is "
            f"{when(v.window.start, v.zone)} to {when(v.window.end, v.zone)}"
        )
    mobile = [w.id for w in v.workers if w.active and w.mobile_enabled]
    if not v.workers:
        worker_detail = "no worker is allocated"
    elif mobile:
        worker_detail = f"mobile-enabled worker(s): {', '.join(mobile)}"
    else:
        worker_detail = "allocated worker(s) " + ", ".join(
            f"{w.id} ({'inactive' if not w.active else 'not mobile-enabled'})" for w in v.workers
        )
    confirmed_early = v.confirmed_at is not None and (
        v.first_published_at is None or v.confirmed_at < v.first_published_at
    )
    if v.confirmed_at is None:
        confirm_detail = "not confirmed manually"
    elif confirmed_early:
        confirm_detail = f"confirmed manually at {when(v.confirmed_at, v.zone)}, before it was ever published"
    else:
        confirm_detail = f"confirmed at {when(v.confirmed_at, v.zone)}, after it was published"
    monitored = "monitored" if v.contract_monitored else "not monitored"
    return [
        check("visit.monitored_contract", v.contract_monitored, f"contract {v.contract_id} is {monitored}"),
        check("visit.in_window", in_window, window_detail),
        check("visit.mobile_worker", bool(mobile), worker_detail),
        check("visit.not_confirmed_before_publish", not confirmed_early, confirm_detail),
    ]


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What the client rules need: status and the contracts it is linked through."""

    id: str
    status: str
    plan_visit_contracts: tuple[tuple[str, bool], ...]
    allocated_visit_contracts: tuple[tuple[str, bool], ...]


def evaluate_client(c: ClientFacts) -> list[Check]:
    """The three client rules."""
    links = (*c.plan_visit_contracts, *c.allocated_visit_contracts)
    monitored = sorted({cid for cid, m in links if m})
    unmonitored = sorted({cid for cid, m in links if not m})
    if monitored:
        contract_detail = f"linked to monitored contract(s) {', '.join(monitored)}"
    elif unmonitored:
        contract_detail = f"linked only to contract(s) not monitored: {', '.join(unmonitored)}"
    else:
        contract_detail = "linked to no contract"
    link_detail = f"{len(c.plan_visit_contracts)} plan visit(s), {len(c.allocated_visit_contracts)} allocated visit(s)"
    return [
        check("client.active", c.status == "active", f"status is {c.status}"),
        check("client.monitored_contract", bool(monitored), contract_detail),
        check("client.linked", bool(links), link_detail),
    ]


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    """What the worker rules need."""

    id: str
    status: str
    mobile_enabled: bool
    visits_in_window_on_monitored: tuple[str, ...]
    allocated_visits: int
    # The other allocated visits, each with why it does not count, e.g. "V2 (contract K2 is not monitored)".
    other_visits: tuple[str, ...] = ()
    # Allocated to a visit in window on a monitored contract that the reader may not see (of another branch's
    # client). The three fields above count and name only the visits the reader may see.
    qualifying_elsewhere: bool = False


def evaluate_worker(w: WorkerFacts) -> list[Check]:
    """The three worker rules.

    The decision counts every allocated visit; the detail names only those the reader may see, and visits of
    other branches without ids or a count.
    """
    qualifying = w.visits_in_window_on_monitored
    if qualifying:
        shown = ", ".join(qualifying[:5]) + (f" and {len(qualifying) - 5} more" if len(qualifying) > 5 else "")
        alloc_detail = f"allocated to {len(qualifying)} visit(s) in window on monitored contracts: {shown}"
    elif w.qualifying_elsewhere:
        alloc_detail = "allocated to visits of other branches in window on monitored contracts"
    else:
        alloc_detail = (
            f"allocated to {w.allocated_visits} visit(s), none on a monitored contract inside the publish window"
        )
        if w.other_visits:
            shown = "; ".join(w.other_visits[:5]) + (
                f"; and {len(w.other_visits) - 5} more" if len(w.other_visits) > 5 else ""
            )
            alloc_detail += f": {shown}"
    return [
        check("worker.active", w.status == "active", f"status is {w.status}"),
        check(
            "worker.mobile_enabled",
            w.mobile_enabled,
            "mobile care worker" if w.mobile_enabled else "not enabled as a mobile care worker",
        ),
        check("worker.allocated_in_window", bool(qualifying) or w.qualifying_elsewhere, alloc_detail),
    ]


@dataclass(frozen=True, slots=True)
class PlanVisitFacts:
    """What the plan-visit (care plan) rules need."""

    id: str
    contract_id: str
    contract_monitored: bool
    visit_type_code: str
    visit_type_description: str | None
    published_visits: int


def evaluate_plan_visit(p: PlanVisitFacts) -> list[Check]:
    """The three plan-visit rules."""
    described = bool(p.visit_type_description and p.visit_type_description.strip())
    monitored = "monitored" if p.contract_monitored else "not monitored"
    return [
        check("plan_visit.monitored_contract", p.contract_monitored, f"contract {p.contract_id} is {monitored}"),
        check(
            "plan_visit.visit_published",
            p.published_visits > 0,
            f"{p.published_visits} of its visits published",
        ),
        check(
            "plan_visit.has_description",
            described,
            f"visit type {p.visit_type_code} is described as {p.visit_type_description!r}"
            if described
            else f"visit type {p.visit_type_code} has no description",
        ),
    ]

"""The publishing rules of seed 000, each with a stable id, a plain message and a fix.

The ids are part of Carehub's contract: explain output, the API and tests use
them. The fix names the screen or command that changes the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """One named publishing condition."""

    id: str
    kind: str
    requirement: str
    fix: str


RULES: tuple[Rule, ...] = (
    Rule(
        "client.active",
        "client",
        "The client has an active status.",
        "Reactivate the client in the rostering system; the next roster update publishes them.",
    ),
    Rule(
        "client.monitored_contract",
        "client",
        "The client is linked to a contract monitored for care planning.",
        "Tick the contract under Publishing > Monitored contracts (carehub publish contracts --monitor ID).",
    ),
    Rule(
        "client.linked",
        "client",
        "The client is linked through a plan visit (care plan planning) or an allocated visit.",
        "Add a service requirement (plan visit) or allocate a visit for the client in the rostering system.",
    ),
    Rule(
        "worker.active",
        "worker",
        "The worker has an active status.",
        "Reactivate the worker in the rostering system.",
    ),
    Rule(
        "worker.mobile_enabled",
        "worker",
        "The worker is enabled as a mobile care worker.",
        "Enable 'Mobile care worker' on the worker in the rostering system.",
    ),
    Rule(
        "worker.allocated_in_window",
        "worker",
        "The worker is allocated to a visit on a monitored contract that starts inside the publish window.",
        "Allocate the worker to a published visit, or extend the publish window under Publishing > Schedules.",
    ),
    Rule(
        "visit.monitored_contract",
        "visit",
        "The visit is on a contract monitored for care planning.",
        "Tick the visit's contract under Publishing > Monitored contracts.",
    ),
    Rule(
        "visit.in_window",
        "visit",
        "The visit starts inside its group's publish window.",
        "Extend the group's publish date under Publishing > Schedules (up to 14 days ahead).",
    ),
    Rule(
        "visit.mobile_worker",
        "visit",
        "The visit is allocated to at least one active, mobile-enabled worker.",
        "Allocate a mobile-enabled worker, or enable 'Mobile care worker' on the allocated worker.",
    ),
    Rule(
        "visit.not_confirmed_before_publish",
        "visit",
        "The visit was not confirmed manually before it was first published.",
        "A visit confirmed before publishing never syncs: record it in care planning by hand, "
        "or cancel it and create a new visit in the rostering system.",
    ),
    Rule(
        "plan_visit.monitored_contract",
        "plan_visit",
        "The plan visit is on a monitored contract.",
        "Tick the plan visit's contract under Publishing > Monitored contracts.",
    ),
    Rule(
        "plan_visit.visit_published",
        "plan_visit",
        "At least one visit allocated from this plan visit has been published.",
        "Publish one of its visits: allocate a mobile-enabled worker to a visit inside the publish window.",
    ),
    Rule(
        "plan_visit.has_description",
        "plan_visit",
        "The plan visit's visit type has a description.",
        "Fill in the visit type's description in the rostering system.",
    ),
)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def rules_for(kind: str) -> tuple[Rule, ...]:
    """The rules of one record kind, in the order they are explained."""
    return tuple(r for r in RULES if r.kind == kind)

"""The publishing rules of seed 000, each with a stable id, a plain message and a fix.

The ids are part of Carehub's contract: explain output, the API and tests use
them. The fix names the screen (Carehub's page path) or command that changes the outcome.
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
        "Reactivate the client in the rostering system; the update publishes them at once "
        "(their status shows on the Clients page, /roster/clients).",
    ),
    Rule(
        "client.monitored_contract",
        "client",
        "The client is linked to a contract monitored for care planning.",
        "Tick the client's contract on the Monitored contracts page (Publishing > Contracts, /publishing/contracts) "
        "or run 'carehub publishing contracts tick CONTRACT_ID'.",
    ),
    Rule(
        "client.linked",
        "client",
        "The client is linked through a plan visit (care plan planning) or an allocated visit.",
        "Add a service requirement (plan visit) or allocate a visit for the client in the rostering system; "
        "the client's page (/roster/clients/ID) lists both.",
    ),
    Rule(
        "worker.active",
        "worker",
        "The worker has an active status.",
        "Reactivate the worker in the rostering system (their status shows on the Workers page, /roster/workers).",
    ),
    Rule(
        "worker.mobile_enabled",
        "worker",
        "The worker is enabled as a mobile care worker.",
        "Enable 'Mobile care worker' on the worker in the rostering system (the Workers page, /roster/workers, "
        "shows who is mobile-enabled).",
    ),
    Rule(
        "worker.allocated_in_window",
        "worker",
        "The worker is allocated to a visit on a monitored contract that starts inside the publish window.",
        "Allocate the worker to a visit on a monitored contract inside the publish window, or extend the window "
        "under Publishing > Schedules (/publishing/schedules; 'carehub publishing schedule --groups G --until DATE').",
    ),
    Rule(
        "visit.monitored_contract",
        "visit",
        "The visit is on a contract monitored for care planning.",
        "Tick the visit's contract on the Monitored contracts page (Publishing > Contracts, /publishing/contracts) "
        "or run 'carehub publishing contracts tick CONTRACT_ID'.",
    ),
    Rule(
        "visit.in_window",
        "visit",
        "The visit starts inside its group's publish window.",
        "Extend the group's publish date, up to 14 days ahead, under Publishing > Schedules (/publishing/schedules) "
        "or run 'carehub publishing schedule --groups G --until YYYY-MM-DD'.",
    ),
    Rule(
        "visit.mobile_worker",
        "visit",
        "The visit is allocated to at least one active, mobile-enabled worker.",
        "Allocate a mobile-enabled worker in the rostering system, or enable 'Mobile care worker' on the allocated "
        "worker; the visit's page (/roster/visits/ID) shows who is allocated.",
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
        "Tick the plan visit's contract on the Monitored contracts page (Publishing > Contracts, "
        "/publishing/contracts) or run 'carehub publishing contracts tick CONTRACT_ID'.",
    ),
    Rule(
        "plan_visit.visit_published",
        "plan_visit",
        "At least one visit allocated from this plan visit has been published.",
        "Publish one of its visits: allocate a mobile-enabled worker to a visit inside the publish window; "
        "Publishing > Explain (/publishing/explain) or 'carehub explain visit ID' says what stops a visit.",
    ),
    Rule(
        "plan_visit.has_description",
        "plan_visit",
        "The plan visit's visit type has a description.",
        "Fill in the visit type's description in the rostering system; the client's page (/roster/clients/ID) "
        "shows each plan visit's visit type.",
    ),
)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def rules_for(kind: str) -> tuple[Rule, ...]:
    """The rules of one record kind, in the order they are explained."""
    return tuple(r for r in RULES if r.kind == kind)

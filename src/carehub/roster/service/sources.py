"""Read-only access to roster rows for other capabilities' set-wise queries.

Publishing evaluates its rules over the whole roster in one SQL pass; rather
than importing roster tables, it asks for them here. These are Core tables
to read and join, never to write: every roster change goes through the
roster's ``do_*`` services.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from carehub.platform.db import core_table
from carehub.roster.tables import Branch, Client, Contract, Group, PlanVisit, Visit, VisitAllocation, Worker


@dataclass(frozen=True, slots=True)
class RosterSources:
    """The roster's tables, for reading."""

    branches: Table
    groups: Table
    contracts: Table
    clients: Table
    workers: Table
    plan_visits: Table
    visits: Table
    allocations: Table


SOURCES = RosterSources(
    branches=core_table(Branch),
    groups=core_table(Group),
    contracts=core_table(Contract),
    clients=core_table(Client),
    workers=core_table(Worker),
    plan_visits=core_table(PlanVisit),
    visits=core_table(Visit),
    allocations=core_table(VisitAllocation),
)

"""Read functions about roster branches for other capabilities: a client's branch, a tenant's branches.

A *branch* for access and forms is the primary key of a roster branch (per
environment). These read in the caller's session, so a service of another
capability can use them inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from carehub.roster.tables import Branch, Client


@dataclass(frozen=True, slots=True)
class BranchRef:
    """A roster branch: its id, environment, the rostering system's id and its own (unprefixed) name."""

    id: int
    environment_id: int
    external_id: str
    name: str


def client_branches(session: Session, client_ids: Collection[int]) -> dict[int, int]:
    """Roster client id -> roster branch id, for the clients that exist."""
    if not client_ids:
        return {}
    rows = session.execute(select(Client.id, Client.branch_id).where(Client.id.in_(sorted(client_ids))))
    return {int(c): int(b) for c, b in rows}


def branches_in(session: Session, environment_ids: Collection[int]) -> list[BranchRef]:
    """The live (not deleted) branches of these environments, by environment and name."""
    if not environment_ids:
        return []
    rows = session.scalars(
        select(Branch)
        .where(Branch.environment_id.in_(sorted(environment_ids)), Branch.deleted_at.is_(None))
        .order_by(Branch.environment_id, Branch.name, Branch.id)
    )
    return [BranchRef(b.id, b.environment_id, b.external_id, b.name) for b in rows]

"""Branch reads for access control: which branch a record belongs to, and branch lookups for grants.

A user's branch scope is a set of roster branch ids (``Actor.branch_ids``;
None means every branch). Clients and workers belong to their ``branch_id``;
plan visits and visits belong to their client's branch; groups and contracts
to their own branch when they have one (one without a branch is tenant-wide).
Records outside the scope are reported as not found by the services that read
them, never as forbidden.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from carehub.platform.db import Database
from carehub.platform.errors import InvalidInput, NotFound, RecordError
from carehub.roster.domain.kinds import RecordKind
from carehub.roster.tables import Branch, Client

MAX_ID = 100


@dataclass(frozen=True, slots=True)
class BranchRef:
    """A roster branch: its primary key, the rostering system's id, its name and environment."""

    id: int
    external_id: str
    name: str
    environment_id: int


def _ref(b: Branch) -> BranchRef:
    return BranchRef(b.id, b.external_id, b.name, b.environment_id)


def branch_in(session: Session, environment_id: int, external_id: str, *, include_deleted: bool = False) -> BranchRef:
    """A live (or, with ``include_deleted``, any) branch of the environment by the rostering system's id."""
    external_id = external_id.strip()
    if not external_id or len(external_id) > MAX_ID or "\x00" in external_id:
        raise InvalidInput(
            "branch id refused",
            errors=[RecordError(None, None, "branch", external_id[:MAX_ID], "the rostering system's branch id")],
        )
    where = [Branch.environment_id == environment_id, Branch.external_id == external_id]
    if not include_deleted:
        where.append(Branch.deleted_at.is_(None))
    b = session.scalar(select(Branch).where(*where))
    if b is None:
        raise NotFound(f"no branch with id {external_id!r}")
    return _ref(b)


def branches_by_id(db: Database, ids: Collection[int]) -> dict[int, BranchRef]:
    """Branches by primary key (deleted ones too: a grant outlives its branch's deletion)."""
    if not ids:
        return {}
    with db.read() as session:
        return {b.id: _ref(b) for b in session.scalars(select(Branch).where(Branch.id.in_(sorted(ids))))}


def list_branches(db: Database, environment_ids: Sequence[int]) -> list[BranchRef]:
    """The live branches of these environments, by name (for choosing what to grant)."""
    if not environment_ids:
        return []
    with db.read() as session:
        rows = session.scalars(
            select(Branch)
            .where(Branch.environment_id.in_(list(environment_ids)), Branch.deleted_at.is_(None))
            .order_by(Branch.name, Branch.id)
        )
        return [_ref(b) for b in rows]


def within(column: Any, branch_ids: frozenset[int] | None) -> ColumnElement[bool] | None:
    """A WHERE clause keeping rows whose branch ``column`` is in scope; None for every branch."""
    if branch_ids is None:
        return None
    if not branch_ids:
        return false()
    return column.in_(sorted(branch_ids))  # type: ignore[no-any-return]


def within_or_shared(column: Any, branch_ids: frozenset[int] | None) -> ColumnElement[bool] | None:
    """As :func:`within`, also keeping rows without a branch (tenant-wide groups and contracts)."""
    inside = within(column, branch_ids)
    return None if inside is None else or_(column.is_(None), inside)


def kind_scope(kind: RecordKind, table: Any, branch_ids: frozenset[int] | None) -> ColumnElement[bool] | None:
    """The scope clause for a table of record ``kind`` (a visit or plan visit through its client's branch)."""
    if branch_ids is None:
        return None
    if kind is RecordKind.BRANCH:
        return within(table.c.id, branch_ids)
    if kind in (RecordKind.CLIENT, RecordKind.WORKER):
        return within(table.c.branch_id, branch_ids)
    if kind in (RecordKind.GROUP, RecordKind.CONTRACT):
        return within_or_shared(table.c.branch_id, branch_ids)
    clients = select(Client.id).where(Client.branch_id.in_(sorted(branch_ids)))
    return table.c.client_id.in_(clients) if branch_ids else false()


def record_visible(session: Session, kind: RecordKind, table: Any, pk: int, branch_ids: frozenset[int] | None) -> bool:
    """Whether the record ``pk`` of ``table`` is within the branch scope."""
    clause = kind_scope(kind, table, branch_ids)
    if clause is None:
        return True
    return session.scalar(select(table.c.id).where(table.c.id == pk, clause)) is not None

"""Copy an environment's roster into another environment as new records (connecting an environment).

When a rostering environment that had its own standalone tenant is connected
to another tenant, its roster arrives there as NEW records: new primary keys,
the same external ids (so the rostering system goes on sending the records it
knows), the same versions. Soft-deleted records are not copied. The source
environment's rows are only read, never changed. Care-planning data (notes,
phones, addresses: owned by the published side) is not part of the roster and
is not copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from carehub.platform import audit, outbox
from carehub.platform.auth.actor import Actor
from carehub.platform.db import core_table
from carehub.roster.tables import TABLES, VisitAllocation

ALLOCATIONS = core_table(VisitAllocation)
# Kinds in dependency order, with their references: column -> kind referred to.
ORDER: tuple[tuple[str, dict[str, str]], ...] = (
    ("branch", {}),
    ("group", {"branch_id": "branch"}),
    ("contract", {"branch_id": "branch"}),
    ("client", {"branch_id": "branch", "group_id": "group"}),
    ("worker", {"branch_id": "branch"}),
    ("plan_visit", {"client_id": "client", "contract_id": "contract"}),
    ("visit", {"client_id": "client", "contract_id": "contract", "plan_visit_id": "plan_visit"}),
)

OPTIONAL = {("group", "branch_id"), ("contract", "branch_id"), ("client", "group_id"), ("visit", "plan_visit_id")}


@dataclass
class CopyResult:
    """What was copied: for each kind, source primary key -> new primary key."""

    ids: dict[str, dict[int, int]] = field(default_factory=dict)
    allocations: int = 0

    def counts(self) -> dict[str, int]:
        """Records copied per kind (and allocations)."""
        return {kind: len(m) for kind, m in self.ids.items()} | {"allocation": self.allocations}


def _table(kind: str) -> Table:
    return core_table(TABLES[kind])


def do_copy_environment_roster(
    session: Session, actor: Actor, *, source_environment_id: int, target_environment_id: int
) -> CopyResult:
    """Copy every live roster record of the source environment into the (empty) target, in the caller's transaction.

    Each copied record gets an audit row (``create``, naming the environment it
    was copied from) and a ``roster.<kind>.created`` outbox event.
    """
    result = CopyResult()
    for kind, refs in ORDER:
        table = _table(kind)
        rows = session.execute(
            select(table)
            .where(table.c.environment_id == source_environment_id, table.c.deleted_at.is_(None))
            .order_by(table.c.id)
        ).mappings()
        copies: list[dict[str, Any]] = []
        sources: list[tuple[int, str]] = []
        for row in rows:
            values = {k: v for k, v in row.items() if k != "id"}
            values["environment_id"] = target_environment_id
            skip = False
            for column, ref in refs.items():
                if values[column] is None:
                    continue
                mapped = result.ids[ref].get(values[column])
                if mapped is None and (kind, column) not in OPTIONAL:
                    skip = True  # refers to a deleted record it cannot exist without
                    break
                values[column] = mapped  # an optional link to a deleted record is dropped
            if skip:
                continue
            copies.append(values)
            sources.append((int(row["id"]), str(row["external_id"])))
        if copies:
            session.execute(insert(table), copies)
        new_ids = dict(
            session.execute(
                select(table.c.external_id, table.c.id).where(table.c.environment_id == target_environment_id)
            ).all()
        )
        result.ids[kind] = {src: int(new_ids[ext]) for src, ext in sources}
        _record(session, actor, kind, target_environment_id, source_environment_id, sources, result.ids[kind])
    pairs = [
        {"visit_id": result.ids["visit"][v], "worker_id": result.ids["worker"][w]}
        for v, w in session.execute(
            select(ALLOCATIONS.c.visit_id, ALLOCATIONS.c.worker_id).where(
                ALLOCATIONS.c.visit_id.in_(
                    select(_table("visit").c.id).where(_table("visit").c.environment_id == source_environment_id)
                )
            )
        )
        if v in result.ids["visit"] and w in result.ids["worker"]
    ]
    if pairs:
        session.execute(insert(ALLOCATIONS), pairs)
    result.allocations = len(pairs)
    return result


def _record(
    session: Session,
    actor: Actor,
    kind: str,
    target: int,
    source: int,
    sources: Iterable[tuple[int, str]],
    ids: dict[int, int],
) -> None:
    listed = list(sources)
    audit.record_many(
        session,
        actor,
        (
            audit.Change(
                kind,
                ids[src],
                "create",
                {"copied_from_environment": [None, source]},
                external_id=ext,
                environment_id=target,
            )
            for src, ext in listed
        ),
    )
    outbox.emit_many(
        session,
        (
            outbox.Event(
                f"roster.{kind}.created",
                kind,
                ids[src],
                {"id": ext, "changed": ["copied"]},
                target,
                left={},
            )
            for src, ext in listed
        ),
    )


def live_roster_counts(session: Session, environment_id: int) -> dict[str, int]:
    """Live records per kind of an environment (for a connection plan)."""
    counts = {}
    for kind, _ in ORDER:
        table = _table(kind)
        counts[kind] = int(
            session.scalar(
                select(func.count()).where(table.c.environment_id == environment_id, table.c.deleted_at.is_(None))
            )
            or 0
        )
    return counts


def roster_names(session: Session, environment_id: int) -> dict[str, list[tuple[str, str]]]:
    """(external id, name) of live branches, and (external id, "first last") of live workers; visit ids."""
    b, w, v = _table("branch"), _table("worker"), _table("visit")
    return {
        "branch": [
            (str(e), str(n))
            for e, n in session.execute(
                select(b.c.external_id, b.c.name)
                .where(b.c.environment_id == environment_id, b.c.deleted_at.is_(None))
                .order_by(b.c.name, b.c.external_id)
            )
        ],
        "worker": [
            (str(e), f"{f} {la}")
            for e, f, la in session.execute(
                select(w.c.external_id, w.c.first_name, w.c.last_name)
                .where(w.c.environment_id == environment_id, w.c.deleted_at.is_(None))
                .order_by(w.c.external_id)
            )
        ],
        "visit": [
            (str(e), "")
            for (e,) in session.execute(
                select(v.c.external_id)
                .where(v.c.environment_id == environment_id, v.c.deleted_at.is_(None))
                .order_by(v.c.external_id)
            )
        ],
    }


def roster_worker_ids(session: Session, environment_id: int) -> dict[str, int]:
    """External id -> primary key of the environment's live workers."""
    w = _table("worker")
    return {
        str(e): int(i)
        for e, i in session.execute(
            select(w.c.external_id, w.c.id).where(w.c.environment_id == environment_id, w.c.deleted_at.is_(None))
        )
    }

"""Reading roster records in the shape rostering systems send them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from carehub.platform import audit
from carehub.platform.audit import AuditEntry
from carehub.platform.auth.actor import Actor
from carehub.platform.db import Database
from carehub.platform.errors import NotFound
from carehub.roster.domain.kinds import REFERENCES, RecordKind
from carehub.roster.schemas import COLUMN_NAMES
from carehub.roster.service.branches import kind_scope
from carehub.roster.service.upsert import data_columns, external_ids, table_of
from carehub.roster.tables import VisitAllocation

_FIELD_NAMES = {v: k for k, v in COLUMN_NAMES.items()}
MAX_PER_PAGE = 500
MAX_HISTORY = 1000


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, newest change last, with the total that matched."""

    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages there are."""
        return max(1, -(-self.total // self.per_page))


def _extra_columns(kind: RecordKind) -> tuple[str, ...]:
    if kind is RecordKind.VISIT:
        return ("status", "confirmed_at", "cancelled_at", "cancel_reason")
    return ()


def _shape(session: Session, kind: RecordKind, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows (id, external_id, version, updated_at, deleted_at, *data, *extra) to API dicts."""
    cols = data_columns(kind) + _extra_columns(kind)
    refs = REFERENCES[kind]
    names = {
        ref.field: external_ids(
            session, ref.kind, (r[5 + cols.index(ref.field)] for r in rows if r[5 + cols.index(ref.field)])
        )
        for ref in refs
    }
    workers: dict[int, list[str]] = {}
    if kind is RecordKind.VISIT and rows:
        ids = [r[0] for r in rows]
        table = table_of(RecordKind.WORKER)
        stmt = (
            select(VisitAllocation.visit_id, table.c.external_id)
            .join(table, table.c.id == VisitAllocation.worker_id)
            .where(VisitAllocation.visit_id.in_(ids))
            .order_by(table.c.external_id)
        )
        for visit_id, ext in session.execute(stmt):
            workers.setdefault(visit_id, []).append(ext)
    out = []
    for r in rows:
        item: dict[str, Any] = {"id": r[1], "version": r[2]}
        for col, value in zip(cols, r[5:], strict=True):
            field = _FIELD_NAMES.get(col, col)
            item[field] = names[col].get(value) if col in names and value is not None else value
        if kind is RecordKind.VISIT:
            item["worker_ids"] = workers.get(r[0], [])
        item["updated_at"] = r[3]
        item["deleted"] = r[4] is not None
        item["_pk"] = r[0]
        out.append(item)
    return out


def _select(kind: RecordKind) -> Select[Any]:
    table = table_of(kind)
    cols = data_columns(kind) + _extra_columns(kind)
    return select(
        table.c.id,
        table.c.external_id,
        table.c.version,
        table.c.updated_at,
        table.c.deleted_at,
        *(table.c[c] for c in cols),
    )


def _scoped(kind: RecordKind, table: Any, branch_ids: frozenset[int] | None) -> list[Any]:
    clause = kind_scope(kind, table, branch_ids)
    return [] if clause is None else [clause]


def get_record(
    db: Database,
    environment_id: int,
    kind: RecordKind,
    external_id: str,
    *,
    branch_ids: frozenset[int] | None = None,
) -> dict[str, Any]:
    """One record by the rostering system's id; NotFound if absent or outside ``branch_ids`` (None: every branch)."""
    table = table_of(kind)
    with db.read() as session:
        row = session.execute(
            _select(kind).where(
                table.c.environment_id == environment_id,
                table.c.external_id == external_id,
                *_scoped(kind, table, branch_ids),
            )
        ).first()
        if row is None:
            raise NotFound(f"no {kind.value.replace('_', ' ')} with id {external_id!r}")
        return _shape(session, kind, [row])[0]


def list_records(
    db: Database,
    environment_id: int,
    kind: RecordKind,
    *,
    q: str | None = None,
    status: str | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    include_deleted: bool = False,
    page: int = 1,
    per_page: int = 50,
    branch_ids: frozenset[int] | None = None,
) -> Page:
    """A page of records, filtered: ``q`` searches ids and names; visits filter by start.

    Only records within ``branch_ids`` are listed and counted (None: every branch).
    """
    table = table_of(kind)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    where = [table.c.environment_id == environment_id, *_scoped(kind, table, branch_ids)]
    if not include_deleted:
        where.append(table.c.deleted_at.is_(None))
    if q:
        # The search text is literal: % and _ are escaped, not LIKE wildcards.
        text = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{text}%"
        searchable = [
            c for c in ("external_id", "name", "first_name", "last_name", "ssref", "postcode") if c in table.c
        ]
        where.append(or_(*(func.lower(table.c[c]).like(like, escape="\\") for c in searchable)))
    if status and "status" in table.c:
        where.append(table.c.status == status)
    if kind is RecordKind.VISIT:
        if start_from is not None:
            where.append(table.c.start_at >= start_from)
        if start_to is not None:
            where.append(table.c.start_at < start_to)
    order = table.c.start_at if kind is RecordKind.VISIT else table.c.external_id
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(table).where(*where)) or 0
        rows = session.execute(
            _select(kind).where(*where).order_by(order, table.c.id).limit(per_page).offset((page - 1) * per_page)
        ).all()
        return Page(_shape(session, kind, rows), total, page, per_page)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One audited change of a record: who, what, when, and each changed field's before and after."""

    at: datetime
    action: str
    actor_kind: str
    actor_label: str
    changes: dict[str, dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form, the time as UTC ISO 8601."""
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "actor": {"kind": self.actor_kind, "label": self.actor_label},
            "changes": self.changes,
        }


def record_history(
    db: Database,
    environment_id: int,
    kind: RecordKind,
    external_id: str,
    *,
    include_views: bool = False,
    limit: int = MAX_HISTORY,
    branch_ids: frozenset[int] | None = None,
) -> list[HistoryEntry]:
    """The audit trail of one record (deleted ones too), newest first; NotFound if it never existed.

    Changes only, unless ``include_views``: then who opened the record (action ``view``) too.
    Fields are named as rostering systems name them (``start``, not the column ``start_at``).
    """
    table = table_of(kind)
    with db.read() as session:
        pk = session.scalar(
            select(table.c.id).where(
                table.c.environment_id == environment_id,
                table.c.external_id == external_id,
                *_scoped(kind, table, branch_ids),
            )
        )
        if pk is None:
            raise NotFound(f"no {kind.value.replace('_', ' ')} with id {external_id!r}")
        stmt = select(AuditEntry).where(AuditEntry.entity == kind.value, AuditEntry.entity_id == pk)
        if not include_views:
            stmt = stmt.where(AuditEntry.action != "view")
        return [
            HistoryEntry(
                e.occurred_at,
                e.action,
                e.actor_kind,
                e.actor_label,
                {
                    _FIELD_NAMES.get(field, field): {"before": pair[0], "after": pair[1]}
                    for field, pair in (e.changes or {}).items()
                },
            )
            for e in session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit))
        ]


def has_records(db: Database, environment_ids: Sequence[int]) -> bool:
    """Whether any of the environments holds a roster record (deleted ones count too)."""
    if not environment_ids:
        return False
    with db.read() as session:
        for kind in RecordKind:
            table = table_of(kind)
            found = session.scalar(select(table.c.id).where(table.c.environment_id.in_(list(environment_ids))).limit(1))
            if found is not None:
                return True
    return False


VIEWED_KINDS = frozenset({RecordKind.CLIENT, RecordKind.WORKER, RecordKind.PLAN_VISIT, RecordKind.VISIT})
"""Kinds whose reading is a case-file view, audited with action ``view``."""


def do_view_record(
    db: Database, actor: Actor, environment_id: int, kind: RecordKind, external_id: str
) -> dict[str, Any]:
    """One record as :func:`get_record` reads it, within the actor's branches; a case-file read is audited.

    Read by a person (a signed-in user), clients, workers, plan visits and visits write an audit row (action
    ``view``) in the same transaction; an API token's read is the rostering system's own and is not a view.
    """
    table = table_of(kind)
    with db.transaction() as session:
        row = session.execute(
            _select(kind).where(
                table.c.environment_id == environment_id,
                table.c.external_id == external_id,
                *_scoped(kind, table, actor.branch_ids),
            )
        ).first()
        if row is None:
            raise NotFound(f"no {kind.value.replace('_', ' ')} with id {external_id!r}")
        item = _shape(session, kind, [row])[0]
        if kind in VIEWED_KINDS and actor.kind == "user":  # a person opened it (a token is the rostering system)
            audit.record(session, actor, audit.Change(kind.value, int(row[0]), "view", {}, external_id, environment_id))
        return item

"""Reading roster records in the shape rostering systems send them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from carehub.platform.db import Database
from carehub.platform.errors import NotFound
from carehub.roster.domain.kinds import REFERENCES, RecordKind
from carehub.roster.schemas import COLUMN_NAMES
from carehub.roster.service.upsert import data_columns, external_ids, table_of
from carehub.roster.tables import VisitAllocation

_FIELD_NAMES = {v: k for k, v in COLUMN_NAMES.items()}
MAX_PER_PAGE = 500


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


def get_record(db: Database, environment_id: int, kind: RecordKind, external_id: str) -> dict[str, Any]:
    """One record by the rostering system's id; NotFound if absent."""
    table = table_of(kind)
    with db.read() as session:
        row = session.execute(
            _select(kind).where(table.c.environment_id == environment_id, table.c.external_id == external_id)
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
) -> Page:
    """A page of records, filtered: ``q`` searches ids and names; visits filter by start."""
    table = table_of(kind)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    where = [table.c.environment_id == environment_id]
    if not include_deleted:
        where.append(table.c.deleted_at.is_(None))
    if q:
        like = f"%{q.strip().lower()}%"
        searchable = [
            c for c in ("external_id", "name", "first_name", "last_name", "ssref", "postcode") if c in table.c
        ]
        where.append(or_(*(func.lower(table.c[c]).like(like) for c in searchable)))
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

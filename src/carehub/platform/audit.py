"""The audit trail: who changed what, when, with the before and after of each field.

Service functions call :func:`record` (or :func:`record_many`) inside the same
transaction as the change, so an audit row exists exactly when the change does.
Case-file views are recorded with action ``view``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Table, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carehub.platform.auth.actor import Actor
from carehub.platform.clock import utc_now
from carehub.platform.db import Base, UTCDateTime, core_table


class AuditEntry(Base):
    """One change (or view) of one record."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_record", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200))
    environment_id: Mapped[int | None]
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    external_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """What a service hands the audit trail for one record."""

    entity: str
    entity_id: int
    action: str
    changes: dict[str, Any]
    external_id: str | None = None
    environment_id: int | None = None


AUDIT_COLUMNS = (
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "environment_id",
    "entity",
    "entity_id",
    "external_id",
    "action",
    "changes",
)


def record_many(session: Session, actor: Actor, changes: Iterable[Change]) -> int:
    """Write one audit row per change, in the caller's transaction. Returns the count."""
    now = utc_now()
    kind, actor_id, label = actor.kind, actor.id, actor.label
    rows = [
        (now, kind, actor_id, label, c.environment_id, c.entity, c.entity_id, c.external_id, c.action, c.changes)
        for c in changes
    ]
    append_rows(session, core_table(AuditEntry), AUDIT_COLUMNS, rows)
    return len(rows)


BULK_FROM = 16  # rows from which a write goes straight to the driver (COPY / executemany)


def to_json(value: Any) -> str:
    """``value`` as JSON text, as a JSON column stores it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"naive datetime {value!r} refused: Carehub stores aware UTC times only"
        raise ValueError(msg)


def sqlite_time(value: datetime | None) -> str | None:
    """An aware time as SQLite stores a UTC timestamp: the text SQLAlchemy's SQLite DATETIME writes and reads."""
    if value is None:
        return None
    _aware(value)
    u = value.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}"


def _pg_time(value: datetime | None) -> datetime | None:
    if value is not None:
        _aware(value)
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else to_json(value)


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


@cache
def _column_plan(table: Table, columns: tuple[str, ...], dialect: str) -> tuple[tuple[tuple[int, Any], ...], list[str]]:
    """Per column: its converter (by position) and its PostgreSQL binary COPY type."""
    convert: list[tuple[int, Any]] = []
    pg_types: list[str] = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, UTCDateTime):
            convert.append((i, sqlite_time if dialect == "sqlite" else _pg_time))
            pg_types.append("timestamptz")
        elif isinstance(kind, JSON):
            convert.append((i, _json_text))
            pg_types.append("text")  # json's binary form is its text
        elif isinstance(kind, Boolean):
            if dialect == "sqlite":
                convert.append((i, _sqlite_bool))
            pg_types.append("bool")
        elif isinstance(kind, Date):
            if dialect == "sqlite":
                convert.append((i, _sqlite_date))
            pg_types.append("date")
        elif isinstance(kind, BigInteger):
            pg_types.append("int8")
        elif isinstance(kind, Integer):
            pg_types.append("int4")
        else:
            pg_types.append("text")
    return tuple(convert), pg_types


def driver_values(
    dialect: str, table: Table, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> Sequence[Sequence[Any]]:
    """``rows`` converted for the driver as ``columns``' types would convert them (see append_rows)."""
    convert = _column_plan(table, columns, dialect)[0]
    if not convert:
        return rows
    converted = []
    for row in rows:
        items = list(row)
        for i, f in convert:
            items[i] = f(items[i])
        converted.append(items)
    return converted


def append_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, bulk: bool = False
) -> None:
    """Insert rows (values in ``columns`` order) in the session's transaction, fast when there are many.

    Few rows go through SQLAlchemy as usual. From BULK_FROM rows (or with
    ``bulk``) they go straight to the driver: a binary ``COPY`` on PostgreSQL,
    one prepared ``executemany`` on SQLite. Values are converted as the column
    types would convert them (JSON text, aware UTC times, SQLite's text dates
    and integer booleans), so the rows read back exactly as if the ORM wrote
    them. Shared by the audit trail, the outbox and the roster's bulk writes.
    """
    if not rows:
        return
    names = tuple(columns)
    if len(rows) < BULK_FROM and not bulk:
        session.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
        return
    dialect = session.get_bind().dialect.name
    values = driver_values(dialect, table, names, rows)
    dbapi: Any = session.connection().connection.driver_connection
    listed = ", ".join(names)
    if dialect == "postgresql":
        with (
            dbapi.cursor() as cur,
            cur.copy(f"COPY {table.name} ({listed}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(_column_plan(table, names, dialect)[1])
            for value in values:
                copy.write_row(value)
        return
    cur = dbapi.cursor()
    try:
        cur.executemany(f"INSERT INTO {table.name} ({listed}) VALUES ({', '.join('?' * len(names))})", values)  # noqa: S608 - names from the table
    finally:
        cur.close()


def record(session: Session, actor: Actor, change: Change) -> None:
    """Write one audit row, in the caller's transaction."""
    record_many(session, actor, [change])


def history(session: Session, entity: str, entity_id: int, limit: int = 200) -> Sequence[AuditEntry]:
    """The audit rows of one record, newest first."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()

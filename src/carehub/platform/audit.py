"""The audit trail: who changed what, when, with the before and after of each field.

Service functions call :func:`record` (or :func:`record_many`) inside the same
transaction as the change, so an audit row exists exactly when the change does.
Case-file views are recorded with action ``view``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, insert, select
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


def record_many(session: Session, actor: Actor, changes: Iterable[Change]) -> int:
    """Write one audit row per change, in the caller's transaction. Returns the count."""
    now = utc_now()
    rows = [
        {
            "occurred_at": now,
            "actor_kind": actor.kind,
            "actor_id": actor.id,
            "actor_label": actor.label,
            "environment_id": c.environment_id,
            "entity": c.entity,
            "entity_id": c.entity_id,
            "external_id": c.external_id,
            "action": c.action,
            "changes": c.changes,
        }
        for c in changes
    ]
    if rows:
        session.execute(insert(core_table(AuditEntry)), rows)
    return len(rows)


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

"""The transactional outbox: events written in the same transaction as the change.

A service that changes state calls :func:`emit_many` before its transaction
commits; delivery (``carehub worker``) reads the outbox afterwards, so an event
exists if and only if its change was committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from carehub.platform.audit import append_rows
from carehub.platform.clock import utc_now
from carehub.platform.db import Base, UTCDateTime, core_table


class OutboxEvent(Base):
    """One durable event, in commit order per record."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_record", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    topic: Mapped[str] = mapped_column(String(80))
    environment_id: Mapped[int | None]
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """An event to emit: ``topic`` is past tense, e.g. ``roster.visit.cancelled``."""

    topic: str
    entity: str
    entity_id: int
    payload: dict[str, Any]
    environment_id: int | None = None


OUTBOX_COLUMNS = ("created_at", "topic", "environment_id", "entity", "entity_id", "payload")


def emit_many(session: Session, events: Iterable[Event]) -> int:
    """Add events to the outbox in the caller's transaction. Returns the count."""
    now = utc_now()
    rows = [(now, e.topic, e.environment_id, e.entity, e.entity_id, e.payload) for e in events]
    append_rows(session, core_table(OutboxEvent), OUTBOX_COLUMNS, rows)
    return len(rows)
